"""A PostgreSQL server of a test's own, for what the shared one must not go through: a restart
in the middle of a run. Started with the binaries of Debian's postgresql package (which
config/services.sh installs), as the postgres system user, on a free loopback port, with trust
authentication and no fsync (a test server)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.e2e.services import ServiceError, free_port


def _bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: p.parts)
    if not versions:
        raise ServiceError("no PostgreSQL server binaries: apt-get install postgresql")
    return versions[-1].parent


class PrivatePostgres:
    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="mailroom-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        owner = pwd.getpwnam("postgres")
        os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self._bin = _bin()

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N")
        self._ctl("start")

    def restart(self) -> None:
        """A fast restart: every connection is cut, as a failover or an upgrade would."""
        self._ctl("restart", "-m", "fast")

    def close(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _ctl(self, *action: str) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.directory / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", *action)

    def _run(self, program: str, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", str(self._bin / program), *args]
        done = subprocess.run(command, capture_output=True, timeout=120, check=False)
        if done.returncode != 0:
            raise ServiceError(f"{program} failed: {done.stderr.decode(errors='replace')}")
