"""Real servers for the end-to-end tests: Postfix relaying to the receiver under test and
dnsmasq publishing DKIM and SPF records, each on a free loopback port, plus DKIM keys and
signatures, and DKIM and SPF checks that ask a nameserver of our choosing.

Both servers come from Debian's packages (config/services.sh installs them). A missing binary
raises `ServiceError` with what to do: the tests fail, they never skip. Postfix needs root.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import dkim
import dns.exception
import dns.resolver
import psutil
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailroom.sources.smtp.dns import Lookups, make_resolver

CONFIG = Path(__file__).resolve().parents[2] / "config"
POSTFIX = Path("/usr/sbin/postfix")
POSTQUEUE = Path("/usr/sbin/postqueue")
DNSMASQ = Path("/usr/sbin/dnsmasq")
# dnsmasq answers NXDOMAIN in these zones for names without records, REFUSED elsewhere.
TEST_ZONES = ("example.com", "example.net", "example.org", "test")
Nameserver = tuple[str, int]


class ServiceError(Exception):
    """A test server is missing, or did not start or stop; the message says which and why."""


def require(binary: Path, package: str) -> None:
    if not os.access(binary, os.X_OK):
        raise ServiceError(
            f"{binary} is missing: run config/services.sh as root, which installs Debian's "
            f"{package} package (`make test` does)"
        )


def free_port() -> int:
    """A loopback port free for both TCP and UDP (dnsmasq needs both)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise ServiceError("no loopback port is free for both TCP and UDP")


def fill(template: str, values: Mapping[str, object]) -> str:
    """`@NAME@` placeholders, not `$NAME`: Postfix expands `$name` itself."""
    for name, value in values.items():
        template = template.replace(f"@{name}@", str(value))
    if left := re.findall(r"@[A-Z_]+@", template):
        raise ServiceError(f"template placeholders without a value: {sorted(set(left))}")
    return template


def _stop_processes(processes: Iterable[psutil.Process], timeout: float = 10.0) -> None:
    """Wait for the processes to end; kill those that don't."""
    remaining = list(processes)
    for last_resort in (False, True):
        deadline = time.monotonic() + timeout
        while (remaining := [p for p in remaining if _alive(p)]) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not remaining:
            return
        if not last_resort:
            for process in remaining:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
    raise ServiceError(f"still running after SIGKILL: {[p.pid for p in remaining]}")


def _alive(process: psutil.Process) -> bool:
    # A daemon's parent is init, which may take a second to reap it: a zombie has ended.
    try:
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


class PostfixInstance:
    """A Postfix of its own under a temporary folder, listening on 127.0.0.1:`port` and
    relaying all mail to 127.0.0.1:`relay_port`."""

    def __init__(self, relay_port: int, relay_domains: Iterable[str] = ("example.com",)) -> None:
        self.relay_port = relay_port
        self.relay_domains = tuple(relay_domains)
        self.port = 0
        # Short and outside pytest's tmp_path: Postfix's socket paths must stay short.
        self.directory = Path(tempfile.mkdtemp(prefix="mailroom-postfix-"))
        # mkdtemp's 0700 would lock out the master itself: it takes its lock in data_directory
        # as the postfix user, and postlogd writes the maillog as that user too.
        self.directory.chmod(0o755)
        self.config_directory = self.directory / "etc"
        self.queue_directory = self.directory / "queue"
        self.maillog = self.directory / "maillog"
        self._master: psutil.Process | None = None

    def start(self) -> None:
        require(POSTFIX, "postfix")
        if os.geteuid() != 0:
            raise ServiceError("Postfix test instances must be started as root")
        self.port = free_port()
        values = {
            "QUEUE_DIRECTORY": self.queue_directory,
            "DATA_DIRECTORY": self.directory / "data",
            "MAILLOG_FILE": self.maillog,
            "BASE_DIRECTORY": self.directory,
            "RELAY_PORT": self.relay_port,
            "RELAY_DOMAINS": ", ".join(self.relay_domains),
            "SMTPD_ADDRESS": f"127.0.0.1:{self.port}",
        }
        self.config_directory.mkdir()
        # Created by root, as Postfix requires; `postfix start` creates what goes inside.
        self.queue_directory.mkdir(mode=0o755)
        written = time.time() - 60
        for name in ("main.cf", "master.cf"):
            path = self.config_directory / name
            path.write_text(fill((CONFIG / "postfix" / name).read_text(), values))
            # Postfix rereads a main.cf changed within the last second until it is older,
            # sleeping 300 ms each time (a guard against half-written files): 1.5 s per start.
            os.utime(path, (written, written))
        # `master -w` (inside `postfix start`) returns once the listeners are bound.
        self._postfix("start")
        pid = int((self.queue_directory / "pid" / "master.pid").read_text().split()[0])
        self._master = psutil.Process(pid)

    def stop(self) -> None:
        """Stop Postfix, wait until every one of its processes is gone, remove its folder."""
        master, self._master = self._master, None
        try:
            if master is not None:
                self._stop_master(master)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _stop_master(self, master: psutil.Process) -> None:
        try:
            processes = [master, *master.children(recursive=True)]
        except psutil.NoSuchProcess:
            processes = []
        try:
            # `stop` and `abort` send the master the same SIGTERM, which it passes on to its
            # children; `stop` then polls with `sleep 1`, we wait for every process instead.
            self._postfix("abort")
        finally:
            _stop_processes(processes)

    def queue_ids(self) -> list[str]:
        """The IDs of the messages in the queue (any state: incoming, active, deferred...)."""
        output = self._run(POSTQUEUE, "-j")
        return [json.loads(line)["queue_id"] for line in output.splitlines() if line.strip()]

    def wait_for_empty_queue(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while ids := self.queue_ids():
            if time.monotonic() > deadline:
                raise TimeoutError(f"Postfix still holds {ids} after {timeout}s:\n{self.log()}")
            time.sleep(0.1)

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {text!r} in Postfix's log after {timeout}s:\n{self.log()}")
            time.sleep(0.1)

    def flush(self) -> None:
        """Retry deferred mail now rather than at its next retry time."""
        self._run(POSTQUEUE, "-f")

    def log(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _postfix(self, command: str) -> None:
        self._run(POSTFIX, command)

    def _run(self, program: Path, *arguments: str) -> str:
        command = [str(program), "-c", str(self.config_directory), *arguments]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise ServiceError(
                f"{' '.join(command)} exited with {result.returncode}: "
                f"{result.stderr.strip()}\n--- maillog ---\n{self.log()}"
            )
        return result.stdout


@dataclass(frozen=True)
class Delivery:
    """A message as the sink received it: envelope and raw bytes, CRLF line ends."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes


class SmtpSink:
    """An aiosmtpd server on a free loopback port standing in for Mailroom's receiver: it
    refuses the next DATA commands with the replies in `refusals` and accepts the rest."""

    def __init__(self) -> None:
        self.port = free_port()
        self.refusals: list[str] = []
        self.attempts = 0
        self._deliveries: queue.Queue[Delivery] = queue.Queue()
        # Our own loop, to close it after stop(): the Controller leaves its own open.
        self._loop = asyncio.new_event_loop()
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            loop=self._loop,
            server_hostname="sink.mailroom.test",
        )

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        try:
            self._controller.stop(no_assert=True)
        finally:
            self._loop.close()

    def next_delivery(self, timeout: float = 20.0) -> Delivery:
        try:
            return self._deliveries.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no message reached the sink in {timeout}s") from None

    def pending(self) -> int:
        """How many accepted messages next_delivery() has not returned yet."""
        return self._deliveries.qsize()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        if self.refusals:
            return self.refusals.pop(0)
        content = envelope.original_content or b""
        self._deliveries.put(Delivery(envelope.mail_from or "", tuple(envelope.rcpt_tos), content))
        return "250 2.0.0 Ok: accepted"


def txt_strings(value: str) -> list[bytes]:
    """A TXT value as DNS character-strings: at most 255 bytes each, joined again by the
    reader (RFC 7208 3.3 for SPF, RFC 6376 3.6.2.2 for DKIM)."""
    data = value.encode("ascii")
    return [data[start : start + 255] for start in range(0, len(data), 255)] or [b""]


def _txt_record_line(name: str, value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"not a DNS name dnsmasq's txt-record takes as is: {name!r}")
    if not value.isascii() or not value.isprintable():
        raise ValueError(f"TXT value must be printable ASCII: {value!r}")
    # Inside quotes dnsmasq takes commas and `#` literally, and unescapes \\ and \".
    quoted = [
        '"' + chunk.decode("ascii").replace("\\", "\\\\").replace('"', '\\"') + '"'
        for chunk in txt_strings(value)
    ]
    return f"txt-record={name},{','.join(quoted)}"


class DnsServer:
    """dnsmasq on 127.0.0.1 (UDP and TCP) serving the TXT records added with `add_txt`."""

    # Each start publishes its generation here; waiting for it proves the new process answers.
    READY_NAME = "_generation.mailroom-dns.test"

    def __init__(self, zones: Iterable[str] = TEST_ZONES) -> None:
        self.zones = tuple(zones)
        self.port = 0
        self.directory = Path(tempfile.mkdtemp(prefix="mailroom-dns-"))
        self.log_file = self.directory / "dnsmasq.log"
        self._records: list[tuple[str, str]] = []
        self._generation = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def nameserver(self) -> Nameserver:
        return ("127.0.0.1", self.port)

    def start(self) -> None:
        require(DNSMASQ, "dnsmasq-base")
        self.port = self.port or free_port()
        self._generation += 1
        conf = self.directory / "dnsmasq.conf"
        conf.write_text(self._configuration())
        with self.log_file.open("ab") as log:
            # A session of its own, so that stop() also ends dnsmasq's TCP children.
            self._process = subprocess.Popen(
                [str(DNSMASQ), f"--conf-file={conf}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()

    def stop(self) -> None:
        if self._process is not None:
            process, self._process = self._process, None
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def add_txt(self, name: str, value: str) -> None:
        """Publish a TXT record, split into 255-byte strings; served when this returns."""
        _txt_record_line(name, value)  # reject a bad record before stopping the server
        self._records.append((name.rstrip("."), value))
        self.stop()
        self.start()

    def resolver(self, timeout: float = 5.0) -> dns.resolver.Resolver:
        return resolver(self.nameserver, timeout)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def _configuration(self) -> str:
        lines = [fill((CONFIG / "dnsmasq.conf.template").read_text(), {"PORT": self.port})]
        lines += [f"local=/{zone}/" for zone in self.zones]
        records = [*self._records, (self.READY_NAME, str(self._generation))]
        lines += [_txt_record_line(name, value) for name, value in records]
        return "\n".join(lines) + "\n"

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        expected = (str(self._generation).encode(),)
        probe = self.resolver(timeout=0.5)
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise ServiceError(f"dnsmasq exited with {self._process.returncode}:\n{self.log()}")
            try:
                # Over TCP: a refused connection fails at once, a lost UDP query only on timeout.
                if probe.resolve(self.READY_NAME, "TXT", tcp=True)[0].strings == expected:
                    return
            except dns.exception.DNSException:
                pass
            time.sleep(0.05)
        raise ServiceError(
            f"dnsmasq did not answer on port {self.port} in {timeout}s:\n{self.log()}"
        )


def resolver(nameserver: Nameserver, timeout: float = 5.0) -> dns.resolver.Resolver:
    """A resolver asking only `nameserver`, ignoring /etc/resolv.conf."""
    result = dns.resolver.Resolver(configure=False)
    result.nameservers = [nameserver[0]]
    result.port = nameserver[1]
    result.lifetime = timeout
    return result


def dkim_keypair(bits: int = 2048) -> tuple[bytes, str]:
    """A new RSA key: (PKCS#1 PEM private key, the DKIM TXT record value publishing it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode('ascii')}"


def dkim_sign(message: bytes, domain: str, selector: str, private_key: bytes) -> bytes:
    """The message with a DKIM-Signature header (relaxed/simple, rsa-sha256) on top."""
    linesep = b"\r\n" if b"\r\n" in message else b"\n"
    header: bytes = dkim.sign(
        message, selector.encode("ascii"), domain.encode("ascii"), private_key, linesep=linesep
    )
    # dkimpy folds and ends the header with `linesep`: the result keeps one kind of line end.
    return header + message


def lookups(nameserver: Nameserver, timeout: float = 5.0) -> Lookups:
    """Mailroom's DKIM and SPF lookups, asking only `nameserver`."""
    resolver = make_resolver([f"{nameserver[0]}:{nameserver[1]}"], timeout)
    return Lookups(resolver)


def verify_dkim(message: bytes, nameserver: Nameserver, timeout: float = 5.0) -> bool:
    """Whether the message's first DKIM signature verifies, keys looked up at `nameserver`."""
    return bool(dkim.verify(message, dnsfunc=lookups(nameserver, timeout).dkim_txt))


def check_spf(
    ip: str, sender: str, helo: str, nameserver: Nameserver, timeout: float = 5.0
) -> tuple[str, str]:
    """pyspf's (result, explanation) for the client `ip`, its records looked up at
    `nameserver`."""
    return lookups(nameserver, timeout).spf_check(ip, sender, helo, timeout)
