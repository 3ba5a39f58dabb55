"""A real Dovecot for the IMAP sync tests: one instance of its own under a temporary folder,
serving IMAP (and IMAPS with a certificate made for it, when asked) on free loopback ports, with
users added while it runs.

Dovecot comes from Debian's dovecot-imapd package (config/services.sh installs it). A missing
binary raises `ServiceError` with what to do: the tests fail, they never skip. Dovecot's test
instances need root, so that its processes can run as its own system users.
"""

from __future__ import annotations

import contextlib
import imaplib
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
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.e2e.services import ServiceError, fill, free_port, require

CONFIG = Path(__file__).resolve().parents[3] / "config" / "dovecot"
DOVECOT = Path("/usr/sbin/dovecot")
OPENSSL = Path("/usr/bin/openssl")
# The system user (made by dovecot-core) that owns every test Maildir and runs the imap
# processes: the passwd-file lines name it, and root cannot be a mail user.
MAIL_USER = "dovecot"
USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True)
class ImapUser:
    """A user of a test Dovecot: log in as `name` with `password` on 127.0.0.1:`port`, or with
    TLS on `imaps_port` (0 if that Dovecot has no TLS); the mail is in `maildir`."""

    name: str
    password: str
    maildir: Path
    port: int
    imaps_port: int


class DovecotServer:
    """Dovecot on 127.0.0.1:`port` (and IMAPS on `imaps_port` when `tls`), a passwd-file for
    each user and their Maildirs under `directory`."""

    def __init__(self, *, tls: bool = False, idle_notify_interval: int = 5) -> None:
        self.tls = tls
        # Dovecot sends an idling client `* OK Still here` this often, in seconds: a few, so
        # that tests meet the keepalives a client must take in its stride, where Dovecot's
        # default (2 minutes) would hide them; a large value keeps idle_check() quiet.
        self.idle_notify_interval = idle_notify_interval
        self.port = 0
        self.imaps_port = 0
        # Short and outside pytest's tmp_path: Dovecot's sockets live in base_dir, and a Unix
        # socket path may not exceed 107 bytes.
        self.directory = Path(tempfile.mkdtemp(prefix="mailroom-dovecot-"))
        # mkdtemp's 0700 would lock out the login, auth and imap processes, which run as
        # dovenull and dovecot and must reach base_dir, the passwd-files and the homes.
        self.directory.chmod(0o755)
        self.users_directory = self.directory / "users"
        self.log_file = self.directory / "dovecot.log"
        self.ca_file = self.directory / "ca.pem"
        # Heads every process title but the master's, `NAME/imap` and so on: stop() finds this
        # instance's processes by it, whoever their parent is by then.
        self.instance_name = self.directory.name
        self._users: set[str] = set()
        self._master: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start Dovecot; after stop(), start it again on the same ports with the same users,
        mail and certificate, as a restarted server."""
        require(DOVECOT, "dovecot-imapd")
        if os.geteuid() != 0:
            raise ServiceError("Dovecot test instances must be started as root")
        if self._master is not None:
            raise ServiceError("this Dovecot is running already")
        uid, gid = mail_owner()
        self.port = self.port or free_port()
        ssl_values = {"SSL": "no", "SSL_CERT": "", "SSL_KEY": ""}
        if self.tls:
            self.imaps_port = self.imaps_port or free_port()
            cert, key = self._certificate()
            ssl_values = {"SSL": "yes", "SSL_CERT": f"<{cert}", "SSL_KEY": f"<{key}"}
        values = {
            "DIRECTORY": self.directory,
            "PORT": self.port,
            "IMAPS_PORT": self.imaps_port,
            "INSTANCE_NAME": self.instance_name,
            "MAIL_UID": uid,
            "USERS_DIRECTORY": self.users_directory,
            "IDLE_NOTIFY_INTERVAL": self.idle_notify_interval,
            **ssl_values,
        }
        configuration = self.directory / "dovecot.conf"
        configuration.write_text(fill((CONFIG / "dovecot.conf").read_text(), values))
        # The auth process reads the passwd-files as dovecot; others may not.
        self.users_directory.mkdir(mode=0o750, exist_ok=True)
        os.chown(self.users_directory, 0, gid)
        (self.directory / "home").mkdir(mode=0o755, exist_ok=True)
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
        """Add a user who can log in at once, with no reload (Dovecot reads a passwd-file it
        has not seen at the first login), and return their Maildir, created empty and owned by
        the mail user."""
        if not USER_NAME.fullmatch(name):
            raise ValueError(f"not a user name this fixture takes: {name!r}")
        if name in self._users:
            raise ValueError(f"user {name!r} exists already")
        uid, gid = mail_owner()
        maildir = self._home(name) / "Maildir"
        for folder in (maildir.parent, maildir, maildir / "cur", maildir / "new", maildir / "tmp"):
            folder.mkdir(mode=0o700)
            os.chown(folder, uid, gid)
        self._write_passwd(name, password)
        self._users.add(name)
        return maildir

    def set_password(self, name: str, password: str) -> None:
        """Change a user's password, as a provider revoking access would; returns once the new
        password works and the old one no longer does. That takes up to a second: Dovecot
        looks at a passwd-file it has read at most once a second."""
        if name not in self._users:
            raise ValueError(f"no user {name!r}")
        self._write_passwd(name, password)
        deadline = time.monotonic() + 5
        while not self._can_log_in(name, password):
            if time.monotonic() > deadline:
                raise ServiceError(f"the new password of {name!r} is refused:\n{self.log()}")
            time.sleep(0.1)

    def _home(self, name: str) -> Path:
        return self.directory / "home" / name

    def _write_passwd(self, name: str, password: str) -> None:
        if not password or any(c in password for c in ":\n\r"):
            raise ValueError("a passwd-file password may not be empty or hold ':' or newlines")
        uid, gid = mail_owner()
        line = f"{name}:{{PLAIN}}{password}:{uid}:{gid}::{self._home(name)}::\n"
        # Renamed into place: Dovecot never reads half a file.
        temporary = self.users_directory / f".{name}.new"
        temporary.write_text(line)
        os.chown(temporary, 0, gid)
        temporary.chmod(0o640)
        temporary.rename(self.users_directory / name)

    def _can_log_in(self, name: str, password: str) -> bool:
        with imaplib.IMAP4("127.0.0.1", self.port, timeout=10) as client:
            try:
                client.login(name, password)
            except imaplib.IMAP4.error:
                return False
            client.logout()
            return True

    def processes(self) -> list[psutil.Process]:
        """This instance's processes that are running, the master's included."""
        found = _processes_named(self.instance_name)
        if self._master is not None and self._master.poll() is None:
            found.append(psutil.Process(self._master.pid))
        return [p for p in found if _running(p)]

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
                raise ServiceError(f"dovecot exited with {self._master.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    if probe.recv(256).startswith(b"* OK"):
                        return
            time.sleep(0.02)
        raise ServiceError(
            f"dovecot did not greet on port {self.port} in {timeout}s:\n{self.log()}"
        )

    def _certificate(self) -> tuple[Path, Path]:
        """A CA (`ca_file`, what clients trust) and a server certificate for 127.0.0.1 and
        localhost signed by it, made the first time. Not one self-signed certificate: Python's
        strict verification (the default from 3.13) refuses a CA certificate as the server's."""
        ca_key, key = self.directory / "ca.key", self.directory / "server.key"
        request, cert = self.directory / "server.csr", self.directory / "server.pem"
        if cert.exists():
            return cert, key
        require(OPENSSL, "openssl")
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


def mail_owner() -> tuple[int, int]:
    """The uid and gid of MAIL_USER, who owns the test Maildirs and runs the imap processes."""
    require(DOVECOT, "dovecot-imapd")
    try:
        user = pwd.getpwnam(MAIL_USER)
    except KeyError:
        raise ServiceError(
            f"no {MAIL_USER!r} system user: reinstall Debian's dovecot-core, which makes it"
        ) from None
    return user.pw_uid, user.pw_gid


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
    """Kill those of the processes still running and wait until they are gone."""
    for process in processes:
        if _running(process):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
    deadline = time.monotonic() + timeout
    while alive := [p for p in processes if _running(p)]:
        if time.monotonic() > deadline:
            raise ServiceError(f"dovecot processes still running after SIGKILL: {alive}")
        time.sleep(0.02)


def _running(process: psutil.Process) -> bool:
    # A process whose parent is init may stay a zombie until init reaps it, which this
    # machine's init does only now and then: it has ended all the same.
    try:
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
