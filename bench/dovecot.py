"""A throwaway Dovecot for bench/imap.py and bench/scale.py: plain IMAP on a free loopback port,
one user to begin with and any number added.

It runs config/dovecot/dovecot.conf, the configuration the IMAP tests run, and needs what they
need: Debian's dovecot-imapd (config/services.sh installs it) and root, so that Dovecot's
processes can run as its own system users. The tests' server (tests/sources/imap/services.py)
also does TLS, restarts and password changes; a benchmark needs none of that, and does not
import tests.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from types import TracebackType

import psutil
from imapclient import IMAPClient

CONFIG = Path(__file__).resolve().parents[1] / "config" / "dovecot" / "dovecot.conf"
DOVECOT = Path("/usr/sbin/dovecot")
# The system user (made by dovecot-core) that owns the Maildir and runs the imap processes.
MAIL_USER = "dovecot"
# Messages per MULTIAPPEND command: larger batches gain little and hold more in memory.
APPEND_BATCH = 500


class Dovecot:
    """Dovecot serving `user` with `password` on 127.0.0.1:`port` while the `with` lasts."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.port = 0
        self.directory = Path()
        self._master: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Dovecot:
        if not os.access(DOVECOT, os.X_OK):
            raise RuntimeError(f"{DOVECOT} is missing: run config/services.sh as root")
        if os.geteuid() != 0:
            raise RuntimeError("Dovecot needs root to run as its own system users")
        # Short and under /tmp: Dovecot's Unix sockets live in it, and their paths may not
        # exceed 107 bytes. 0755, not mkdtemp's 0700: dovenull and dovecot must reach it.
        self.directory = Path(tempfile.mkdtemp(prefix="mailroom-bench-dovecot-"))
        self.directory.chmod(0o755)
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def pid(self) -> int:
        """The master process's: its children, reaped, are each session's imap process."""
        assert self._master is not None
        return self._master.pid

    def add_user(self, user: str, password: str) -> None:
        """Another user, with an empty Maildir, who can log in at once (Dovecot reads a
        passwd-file it has not seen at the first login)."""
        owner = pwd.getpwnam(MAIL_USER)
        uid, gid = owner.pw_uid, owner.pw_gid
        home = self.directory / "home" / user
        maildir = home / "Maildir"
        for folder in (home, maildir, maildir / "cur", maildir / "new", maildir / "tmp"):
            folder.mkdir(mode=0o700)
            os.chown(folder, uid, gid)
        passwd = self.directory / "users" / user
        passwd.write_text(f"{user}:{{PLAIN}}{password}:{uid}:{gid}::{home}::\n")
        os.chown(passwd, 0, gid)
        passwd.chmod(0o640)

    def append(
        self,
        messages: Iterable[bytes],
        folder: str = "INBOX",
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        """Append the messages to `folder` (the first user's, or `user`'s), MULTIAPPEND by
        MULTIAPPEND."""
        with IMAPClient("127.0.0.1", self.port, ssl=False, timeout=60) as client:
            client.login(user or self.user, password or self.password)
            # As the tests' helper does: Dovecot keeps per-message MODSEQs only in mailboxes a
            # CONDSTORE client has opened, and the mailbox should look like a real server's.
            client.enable("CONDSTORE")
            for batch in _batches(messages):
                result, data = client.multiappend(folder, batch)
                if result != "OK":
                    raise RuntimeError(f"APPEND to {folder!r} refused: {data[-1]!r}")

    def _start(self) -> None:
        owner = pwd.getpwnam(MAIL_USER)
        uid, gid = owner.pw_uid, owner.pw_gid
        users = self.directory / "users"
        users.mkdir(mode=0o750)
        os.chown(users, 0, gid)
        (self.directory / "home").mkdir(mode=0o755)
        self.add_user(self.user, self.password)
        self.port = _free_port()
        values = {
            "DIRECTORY": self.directory,
            "PORT": self.port,
            "IMAPS_PORT": 0,
            "INSTANCE_NAME": self.directory.name,
            "MAIL_UID": uid,
            "USERS_DIRECTORY": users,
            # Keepalives to an idling client every 5 s, as the tests' server sends them.
            "IDLE_NOTIFY_INTERVAL": 5,
            "SSL": "no",
            "SSL_CERT": "",
            "SSL_KEY": "",
        }
        configuration = self.directory / "dovecot.conf"
        configuration.write_text(_fill(CONFIG.read_text(), values))
        with (self.directory / "startup.log").open("wb") as log:
            # -F keeps the master in the foreground, our child: _stop() can wait for it.
            self._master = subprocess.Popen(
                [str(DOVECOT), "-F", "-c", str(configuration)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 10.0) -> None:
        assert self._master is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._master.poll() is not None:
                raise RuntimeError(f"dovecot exited with {self._master.returncode}: {self._log()}")
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    if probe.recv(256).startswith(b"* OK"):
                        return
            time.sleep(0.02)
        raise RuntimeError(f"dovecot did not greet on port {self.port}: {self._log()}")

    def _stop(self) -> None:
        master, self._master = self._master, None
        if master is None:
            return
        with contextlib.suppress(ProcessLookupError):
            master.send_signal(signal.SIGTERM)  # the master ends its children and waits
        try:
            master.wait(timeout=10)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait(timeout=10)
        # Children a killed master left behind, found by the instance name in their titles.
        prefixes = (f"{self.directory.name}/", f"dovecot-{self.directory.name}/")
        for process in psutil.process_iter(["cmdline"]):
            if (process.info["cmdline"] or [""])[0].startswith(prefixes):
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()

    def _log(self) -> str:
        paths = [self.directory / "startup.log", self.directory / "dovecot.log"]
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())


def _fill(template: str, values: dict[str, object]) -> str:
    for name, value in values.items():
        template = template.replace(f"@{name}@", str(value))
    if left := re.findall(r"@[A-Z_]+@", template):
        raise RuntimeError(f"{CONFIG} has placeholders without a value: {sorted(set(left))}")
    return template


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _batches(messages: Iterable[bytes]) -> Iterator[list[bytes]]:
    iterator = iter(messages)
    while batch := list(islice(iterator, APPEND_BATCH)):
        yield batch
