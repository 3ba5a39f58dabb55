"""A real Radicale (the dev dependency, run as `python -m radicale` from the same Python) for
the CalDAV tests: its own configuration, htpasswd file and collections under a temporary
folder, on a free loopback port; calendars made and filled over HTTP as any CalDAV client
would (MKCALENDAR, PUT, DELETE).
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from tests.e2e.services import ServiceError, free_port

ATTEMPTS = 3
START_TIMEOUT = 20.0

CONFIG = """\
[server]
hosts = 127.0.0.1:{port}

[auth]
type = htpasswd
htpasswd_filename = {users}
htpasswd_encryption = plain
# Radicale waits this long after a wrong password; the tests try a few.
delay = 0.05

[rights]
type = owner_only

[storage]
filesystem_folder = {collections}

[web]
type = none

[logging]
level = warning
"""

MKCALENDAR = b"""<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop>
    <D:displayname>%s</D:displayname>
    <C:supported-calendar-component-set><C:comp name="%s"/></C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>"""


@dataclass(frozen=True)
class Radicale:
    """A running Radicale at `url` with one user, `user` / `password`."""

    url: str
    user: str
    password: str
    directory: Path

    def _client(self) -> httpx.Client:
        return httpx.Client(auth=(self.user, self.password), timeout=10)

    @property
    def home(self) -> str:
        return f"{self.url}/{self.user}/"

    def calendar(self, name: str, *, component: str = "VEVENT") -> str:
        """Make a calendar collection in the user's home; returns its URL."""
        url = f"{self.home}{name}/"
        with self._client() as client:
            body = MKCALENDAR % (name.encode(), component.encode())
            answer = client.request("MKCALENDAR", url, content=body)
        assert answer.status_code == 201, answer.text
        return url

    def put(self, calendar: str, name: str, ics: bytes | str) -> str:
        """Store `ics` as the resource `name` of the calendar (made or replaced)."""
        data = ics.encode() if isinstance(ics, str) else ics
        with self._client() as client:
            answer = client.put(
                f"{calendar}{name}", content=data, headers={"content-type": "text/calendar"}
            )
        assert answer.status_code in (201, 204), answer.text
        return f"{calendar}{name}"

    def delete(self, url: str) -> None:
        with self._client() as client:
            answer = client.delete(url)
        assert answer.status_code in (200, 204), answer.text


class RadicaleServer:
    """Radicale's process, started and stopped; a context manager."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="mailroom-radicale-"))
        self.user = "alice"
        self.password = secrets.token_urlsafe(12)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Radicale:
        # A free port may be taken by another test's server before Radicale binds it (the
        # tests run in parallel): then it is started again on another.
        for _ in range(ATTEMPTS - 1):
            try:
                return self._start(free_port())
            except ServiceError as error:
                if "Address already in use" not in str(error):
                    raise
        return self._start(free_port())

    def _start(self, port: int) -> Radicale:
        users = self.directory / "users"
        users.write_text(f"{self.user}:{self.password}\n")
        config = self.directory / "config"
        config.write_text(
            CONFIG.format(port=port, users=users, collections=self.directory / "collections")
        )
        with (self.directory / "radicale.log").open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "radicale", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServiceError(f"Radicale exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise ServiceError(f"Radicale did not listen within {START_TIMEOUT} s: {self.log()}")
        return Radicale(f"http://127.0.0.1:{port}", self.user, self.password, self.directory)

    def log(self) -> str:
        path = self.directory / "radicale.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def __enter__(self) -> Radicale:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
