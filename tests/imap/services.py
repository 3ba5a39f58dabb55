"""A real Dovecot for the IMAP sync tests: one instance of its own under a temporary folder,
serving IMAP (and IMAPS with a certificate made for it, when asked) on free loopback ports, with
users added while it runs.

Dovecot comes from Debian's dovecot-imapd package (config/services.sh installs it). A missing
binary raises `ServiceError` with what to do: the tests fail, they never skip. Dovecot's test
instances need root, so that its processes can run as its own system users.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from tests.e2e.services import ServiceError, fill, free_port, require

CONFIG = Path(__file__).resolve().parents[2] / "config" / "dovecot"
DOVECOT = Path("/usr/sbin/dovecot")
OPENSSL = Path("/usr/bin/openssl")
# The system user (made by dovecot-core) that owns every test Maildir and runs the imap
# processes: the passwd-file lines name it, and root cannot be a mail user.
MAIL_USER = "dovecot"
USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class DovecotServer:
    """Dovecot on 127.0.0.1:`port` (and IMAPS on `imaps_port` when `tls`), its users in a
    passwd-file and their Maildirs under `directory`."""

    def __init__(self, *, tls: bool = False, idle_notify_interval: int = 120) -> None:
        self.tls = tls
        # `* OK Still here` during IDLE this often, in seconds; small to test a client's
        # patience with it, large (Dovecot's default, 2 min) to keep idle_check() quiet.
        self.idle_notify_interval = idle_notify_interval
        self.port = 0
        self.imaps_port = 0
        # Short and outside pytest's tmp_path: Dovecot's sockets live in base_dir, and a Unix
        # socket path may not exceed 107 bytes.
        self.directory = Path(tempfile.mkdtemp(prefix="mailroom-dovecot-"))
        # mkdtemp's 0700 would lock out the login, auth and imap processes, which run as
        # dovenull and dovecot and must reach base_dir, the passwd-file and the homes.
        self.directory.chmod(0o755)
        self.passwd_file = self.directory / "passwd"
        self.log_file = self.directory / "dovecot.log"
        self.ca_file = self.directory / "ca.pem"
        # Heads every process title but the master's, `NAME/imap` and so on: stop() finds this
        # instance's processes by it, whoever their parent is by then.
        self.instance_name = self.directory.name
        self._mail_uid = pwd.getpwnam(MAIL_USER).pw_uid
        self._mail_gid = grp.getgrnam(MAIL_USER).gr_gid
        self._passwords: dict[str, str] = {}
        self._master: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        require(DOVECOT, "dovecot-imapd")
        if os.geteuid() != 0:
            raise ServiceError("Dovecot test instances must be started as root")
        self.port = free_port()
        ssl_values = {"SSL": "no", "SSL_CERT": "", "SSL_KEY": ""}
        if self.tls:
            self.imaps_port = free_port()
            cert, key = self._make_certificate()
            ssl_values = {"SSL": "yes", "SSL_CERT": f"<{cert}", "SSL_KEY": f"<{key}"}
        values = {
            "DIRECTORY": self.directory,
            "PORT": self.port,
            "IMAPS_PORT": self.imaps_port,
            "INSTANCE_NAME": self.instance_name,
            "MAIL_UID": self._mail_uid,
            "PASSWD_FILE": self.passwd_file,
            "IDLE_NOTIFY_INTERVAL": self.idle_notify_interval,
            **ssl_values,
        }
        configuration = self.directory / "dovecot.conf"
        configuration.write_text(fill((CONFIG / "dovecot.conf").read_text(), values))
        self.passwd_file.touch()
        # The auth process reads it as dovecot; the passwords stay out of other users' reach.
        os.chown(self.passwd_file, 0, self._mail_gid)
        self.passwd_file.chmod(0o640)
        (self.directory / "home").mkdir(mode=0o755)
        with (self.directory / "startup.log").open("wb") as startup_log:
            # -F keeps the master in the foreground, our child: stop() can wait for it.
            self._master = subprocess.Popen(
                [str(DOVECOT), "-F", "-c", str(configuration)],
                stdin=subprocess.DEVNULL,
                stdout=startup_log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()

    def stop(self) -> None:
        """Stop Dovecot and wait until every one of its processes is gone; idempotent."""
        master, self._master = self._master, None
        if master is None:
            return
        processes = _processes_named(self.instance_name)
        with contextlib.suppress(ProcessLookupError):
            # The master passes SIGTERM on to its children (shutdown_clients = yes) and waits
            # for them; imap processes in the middle of a command end too.
            master.send_signal(signal.SIGTERM)
        try:
            master.wait(timeout=10)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait(timeout=10)
        # Children forked after the first look, or orphaned by a master that had to be killed.
        _kill_all([*processes, *_processes_named(self.instance_name)])

    def close(self) -> None:
        """Stop, then remove the folder with every Maildir and the log."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def add_user(self, name: str, password: str) -> Path:
        """Add a user who can log in at once (Dovecot rereads a changed passwd-file at each
        login) and return their Maildir, created empty and owned by the mail user."""
        if not USER_NAME.fullmatch(name):
            raise ValueError(f"not a user name this fixture takes: {name!r}")
        if name in self._passwords:
            raise ValueError(f"user {name!r} exists already")
        if any(c in password for c in ":\n\r") or not password:
            raise ValueError("a passwd-file password may not be empty or hold ':' or newlines")
        home = self.directory / "home" / name
        maildir = home / "Maildir"
        for folder in (home, maildir, maildir / "cur", maildir / "new", maildir / "tmp"):
            folder.mkdir(mode=0o700)
            os.chown(folder, self._mail_uid, self._mail_gid)
        line = f"{name}:{{PLAIN}}{password}:{self._mail_uid}:{self._mail_gid}::{home}::\n"
        with self.passwd_file.open("a") as passwd:
            passwd.write(line)
        self._passwords[name] = password
        return maildir

    def maildir(self, name: str) -> Path:
        return self.directory / "home" / name / "Maildir"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting only this instance's CA, for `IMAPClient(ssl=True)`."""
        if not self.tls:
            raise ServiceError("this Dovecot was started without TLS (DovecotServer(tls=True))")
        return ssl.create_default_context(cafile=str(self.ca_file))

    def log(self) -> str:
        parts = [self.directory / "startup.log", self.log_file]
        return "".join(p.read_text(errors="replace") for p in parts if p.exists())

    def _wait_ready(self, timeout: float = 10.0) -> None:
        """Return once the login process greets a client: the listeners, auth and config
        processes are all up by then."""
        assert self._master is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._master.poll() is not None:
                raise ServiceError(
                    f"dovecot exited with {self._master.returncode}:\n{self.log()}"
                )
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    if probe.recv(256).startswith(b"* OK"):
                        return
            time.sleep(0.02)
        raise ServiceError(f"dovecot did not greet on port {self.port} in {timeout}s:\n{self.log()}")

    def _make_certificate(self) -> tuple[Path, Path]:
        """A CA (`ca_file`, what clients trust) and a server certificate for 127.0.0.1 and
        localhost signed by it. Not one self-signed certificate: Python's strict verification
        (the default from 3.13) refuses a CA certificate as the server's own."""
        require(OPENSSL, "openssl")
        ca_key, key = self.directory / "ca.key", self.directory / "server.key"
        request, cert = self.directory / "server.csr", self.directory / "server.pem"
        extensions = self.directory / "server.ext"
        extensions.write_text(
            "basicConstraints = critical, CA:FALSE\n"
            "keyUsage = critical, digitalSignature\n"
            "extendedKeyUsage = serverAuth\n"
            "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
            "subjectKeyIdentifier = hash\n"
            "authorityKeyIdentifier = keyid\n"
        )
        # EC keys: generated in milliseconds where RSA takes a good part of a second.
        new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        _openssl(
            "req", "-x509", *new_key, "-keyout", ca_key, "-out", self.ca_file, "-days", "2",
            "-subj", "/CN=Mailroom test CA",
            "-addext", "basicConstraints = critical, CA:TRUE",
            "-addext", "keyUsage = critical, keyCertSign, cRLSign",
        )  # fmt: skip
        _openssl("req", "-new", *new_key, "-keyout", key, "-out", request, "-subj", "/CN=localhost")
        _openssl(
            "x509", "-req", "-in", request, "-CA", self.ca_file, "-CAkey", ca_key,
            "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", extensions,
        )  # fmt: skip
        return cert, key


def _openssl(*arguments: str | Path) -> None:
    command = [str(OPENSSL), *map(str, arguments)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise ServiceError(f"{' '.join(command)} exited with {result.returncode}: {result.stderr}")


def _processes_named(instance_name: str) -> list[psutil.Process]:
    """All of an instance's processes but its master: Dovecot titles them
    `dovecot-NAME/imap` and so on (`NAME/imap` if the name starts with "dovecot")."""
    prefixes = (f"{instance_name}/", f"dovecot-{instance_name}/")
    return [
        process
        for process in psutil.process_iter(["cmdline"])
        if (process.info["cmdline"] or [""])[0].startswith(prefixes)
    ]


def _kill_all(processes: list[psutil.Process], timeout: float = 10.0) -> None:
    """Kill the processes still alive and wait until they are gone."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    # A process whose parent is init may stay a zombie until init reaps it: it has ended.
    alive = [p for p in alive if _running(p)]
    if alive:
        raise ServiceError(f"dovecot processes still running after SIGKILL: {alive}")


def _running(process: psutil.Process) -> bool:
    try:
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
