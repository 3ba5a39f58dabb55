"""`mailroom serve` with API worker processes (MAILROOM_HTTP_WORKERS=2), as a process: both
processes answer on the one port, with the same /health and /metrics; SMTP listens in one of
them only; the per-token limit is shared out between them; mutations in the worker and ingest
in the main process write the same database at once; a worker that dies is started again;
SIGTERM (or a Ctrl-C) stops them all, and a kill -9 of the main process leaves no worker
behind holding the port.

Which process answered is read from the kernel's table of connections (psutil), not from
anything the server says."""

from __future__ import annotations

import http.client
import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mailroom.settings import Settings
from tests.helpers import message

pytestmark = pytest.mark.embedded

DOMAIN = "workers.mailroom.test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-m", "mailroom", *args]
    done = subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
    return done.stdout.decode()


@dataclass
class Serve:
    process: subprocess.Popen[bytes]
    http: int
    smtp: int
    token: str
    log: Path

    @property
    def main(self) -> psutil.Process:
        return psutil.Process(self.process.pid)

    def listening(self, port: int) -> list[int]:
        """The pids of the main process and its children that listen on `port`."""
        found = []
        for process in [self.main, *self.main.children()]:
            try:
                connections = process.net_connections("tcp")
            except psutil.NoSuchProcess:
                continue
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections):
                found.append(process.pid)
        return found

    def owner(self, client_port: int) -> int | None:
        """The pid of the process that holds the server's end of a connection from
        `client_port`."""
        for process in [self.main, *self.main.children()]:
            try:
                connections = process.net_connections("tcp")
            except psutil.NoSuchProcess:
                continue
            for c in connections:
                if c.laddr.port == self.http and c.raddr and c.raddr.port == client_port:
                    return process.pid
        return None

    def wait_workers(self, count: int, other_than: frozenset[int] = frozenset()) -> list[int]:
        """The pids of the `count` processes serving the port (a worker holds the socket from
        its start, and takes connections once uvicorn says it started)."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            pids = self.listening(self.http)
            log = self.log.read_text()
            started = all(f"Started server process [{pid}]" in log for pid in pids)
            if len(pids) == count and started and not other_than & set(pids):
                return pids
            time.sleep(0.2)
        raise AssertionError(f"not {count} processes on the port:\n{self.log.read_text()}")


@contextmanager
def _serve(settings: Settings, tmp_path: Path, **values: str) -> Iterator[Serve]:
    http, smtp = _free_port(), _free_port()
    env = {
        **os.environ,
        "MAILROOM_DATABASE_URL": settings.database_url,
        "MAILROOM_DATA_DIR": str(settings.data_dir),
        "MAILROOM_HTTP_PORT": str(http),
        "MAILROOM_SMTP_PORT": str(smtp),
        "MAILROOM_MAIL_DOMAIN": DOMAIN,
        "MAILROOM_HTTP_WORKERS": "2",
        "MAILROOM_NORMALIZE_WORKERS": "0",
        **values,
    }
    env.pop("MAILROOM_CONFIG", None)
    _cli(env, "workspace", "create", "acme")
    _cli(env, "workspace", "set", "acme", "--sender-policy", "ADDRESS_ONLY")
    _cli(env, "member", "add", "acme", "alice@acme.com")
    token = _cli(env, "token", "create", "acme", "alice@acme.com").strip().splitlines()[-1]
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "mailroom", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # a process group of its own, for a Ctrl-C (killpg)
        )
    running = Serve(process, http, smtp, token, log)
    try:
        running.wait_workers(2)
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _connections(serve: Serve) -> dict[int, http.client.HTTPConnection]:
    """A keep-alive connection answered by each of the processes on the port: new ones are
    opened (the kernel gives each to whichever process accepts first) until both have one.
    Those found are kept busy meanwhile: uvicorn closes a connection idle for 5 s."""
    found: dict[int, http.client.HTTPConnection] = {}
    for _ in range(200):
        for kept in found.values():
            _get(kept, "/health")
        connection = http.client.HTTPConnection("127.0.0.1", serve.http, timeout=30)
        _get(connection, "/health")
        pid = serve.owner(connection.sock.getsockname()[1])
        if pid is None or pid in found:
            connection.close()
        else:
            found[pid] = connection
        if len(found) == 2:
            return found
    raise AssertionError(f"the connections all went to {list(found)}")


def _get(connection: http.client.HTTPConnection, path: str) -> tuple[int, Any]:
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def _api_requests(connection: http.client.HTTPConnection) -> dict[str, float]:
    """mailroom_api_requests by outcome, from the connection's /metrics."""
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    found: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mailroom_api_requests_total":
                found[sample.labels["outcome"]] += sample.value
    return dict(found)


def _graphql(
    connection: http.client.HTTPConnection, token: str, query: str, **variables: Any
) -> tuple[int, Any]:
    body = json.dumps({"query": query, "variables": variables})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection.request("POST", "/graphql", body, headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def _send(port: int, raw: bytes) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        try:
            client.sendmail("alice@acme.com", [f"acme@{DOMAIN}"], raw.replace(b"\n", b"\r\n"))
        except smtplib.SMTPResponseException as error:
            return error.smtp_code
        return 250


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pids: list[int], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(_gone(p) for p in pids):
        time.sleep(0.1)
    assert all(_gone(p) for p in pids), [p for p in pids if not _gone(p)]


def _listened_on(port: int) -> bool:
    """Whether any process listens on `port` (binding it to see would also fail while a
    connection from another program happens to use the number as its own port)."""
    return any(
        c.status == psutil.CONN_LISTEN and c.laddr.port == port
        for c in psutil.net_connections("tcp")
    )


def _wait_closed(port: int, seconds: float = 10) -> None:
    """Wait until nothing listens on `port`. A process whose first thread is already a zombie
    can still hold its sockets while its other threads exit (on a busy machine, for a moment),
    so the dead workers' pids alone do not say the port is free."""
    deadline = time.monotonic() + seconds
    while _listened_on(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _listened_on(port), f"something still listens on {port} after {seconds}s"


ME = "{ me { email } }"
CREATE = "mutation($n: String!, $e: String!) { createPerson(input: {name: $n, emails: [$e]}) "
CREATE += "{ __typename ... on Person { id } } }"


def test_two_processes_answer_alike_and_sigterm_stops_both(
    settings: Settings, tmp_path: Path
) -> None:
    # 4 requests a minute per token: 2 for each process.
    with _serve(settings, tmp_path, MAILROOM_API_REQUESTS_PER_MINUTE="4") as serve:
        main = serve.process.pid
        [worker] = [p for p in serve.listening(serve.http) if p != main]
        assert serve.listening(serve.smtp) == [main]  # SMTP in the main process only
        by_process = _connections(serve)
        assert set(by_process) == {main, worker}

        health = {pid: _get(c, "/health") for pid, c in by_process.items()}
        assert health[main] == health[worker]
        status, body = health[main]
        assert status == 200 and body["smtp"] == "listening"
        assert body["pollers"]["status"] == "running"

        answers = [_graphql(c, serve.token, ME)[0] for c in by_process.values() for _ in range(3)]
        # Each process allows its share (2) of the token's 4 a minute, whichever it is.
        assert answers == [200, 200, 429, 200, 200, 429]
        # Either process's /metrics counts the requests both answered.
        counted = {pid: _api_requests(c) for pid, c in by_process.items()}
        assert counted[main] == counted[worker] == {"ok": 4, "rate_limited": 2}

        for connection in by_process.values():
            connection.close()
        serve.process.send_signal(signal.SIGTERM)
        # uvicorn stops, then raises the signal again: the exit a supervisor expects.
        assert serve.process.wait(timeout=60) == -signal.SIGTERM
        _wait_gone([worker])
    _wait_closed(serve.http)


def test_a_worker_that_dies_is_replaced_and_kill_9_leaves_none(
    settings: Settings, tmp_path: Path
) -> None:
    with _serve(settings, tmp_path) as serve:
        main = serve.process.pid
        [worker] = [p for p in serve.listening(serve.http) if p != main]
        os.kill(worker, signal.SIGKILL)
        [replaced] = [p for p in serve.wait_workers(2, frozenset({worker})) if p != main]
        assert "was killed by SIGKILL; starting another" in serve.log.read_text()

        serve.process.kill()  # SIGKILL: the main process cleans nothing up
        serve.process.wait()
        _wait_gone([replaced], seconds=10)
    _wait_closed(serve.http)


def test_a_burst_of_connections_is_shared_between_the_processes_and_the_port_is_theirs(
    settings: Settings, tmp_path: Path
) -> None:
    """32 keep-alive connections opened at once, as a proxy's pool is: each process gets a
    share (with one accept queue for all, the first to wake took every one at times). And the
    port stays theirs: a second `serve` on it stops with the error a taken port gives."""
    with _serve(settings, tmp_path) as serve:
        connections = [socket.create_connection(("127.0.0.1", serve.http)) for _ in range(32)]
        try:
            for connection in connections:
                connection.sendall(b"GET /health HTTP/1.1\r\nHost: mailroom\r\n\r\n")
            for connection in connections:
                assert connection.recv(64).startswith(b"HTTP/1.1 200")
            owners = [serve.owner(c.getsockname()[1]) for c in connections]
        finally:
            for connection in connections:
                connection.close()
        shares = {pid: owners.count(pid) for pid in serve.listening(serve.http)}
        # Dealt out by a hash of the addresses: fewer than 4 of 32 is a chance in 400,000.
        assert len(shares) == 2 and min(shares.values()) >= 4, shares

        env = {
            **os.environ,
            "MAILROOM_DATABASE_URL": settings.database_url,
            "MAILROOM_DATA_DIR": str(settings.data_dir),
            "MAILROOM_HTTP_PORT": str(serve.http),
            "MAILROOM_SMTP_ENABLED": "false",
            "MAILROOM_HTTP_WORKERS": "2",
        }
        env.pop("MAILROOM_CONFIG", None)
        second = subprocess.run(
            [sys.executable, "-m", "mailroom", "serve"], env=env, capture_output=True, timeout=120
        )
        assert second.returncode != 0
        assert f"cannot listen for the API on 127.0.0.1:{serve.http}" in second.stderr.decode()
        assert serve.process.poll() is None


def test_connections_dealt_to_a_dead_worker_wait_for_the_next_one(
    settings: Settings, tmp_path: Path
) -> None:
    """Each process has its own queue, and the kernel keeps dealing connections to a worker's
    while it is dead: the main process holds the socket, so they wait there for the worker
    started in its place, and every one is answered."""
    with _serve(settings, tmp_path) as serve:
        main = serve.process.pid
        [worker] = [p for p in serve.listening(serve.http) if p != main]
        os.kill(worker, signal.SIGKILL)
        _wait_gone([worker])
        connections = [
            socket.create_connection(("127.0.0.1", serve.http), timeout=60) for _ in range(32)
        ]
        try:
            for connection in connections:
                connection.sendall(b"GET /health HTTP/1.1\r\nHost: mailroom\r\n\r\n")
            answers = [connection.recv(64) for connection in connections]
            owners = {serve.owner(c.getsockname()[1]) for c in connections}
        finally:
            for connection in connections:
                connection.close()
        assert all(a.startswith(b"HTTP/1.1 200") for a in answers), answers
        [replaced] = [p for p in serve.wait_workers(2, frozenset({worker})) if p != main]
        assert owners == {main, replaced}


def test_mutations_in_the_worker_while_the_main_process_ingests(
    settings: Settings, tmp_path: Path
) -> None:
    with _serve(settings, tmp_path) as serve:
        main = serve.process.pid
        [worker] = [p for p in serve.listening(serve.http) if p != main]
        by_process = _connections(serve)
        connection = by_process.pop(worker)
        by_process[main].close()
        sent: list[int] = []

        def send() -> None:
            for n in range(40):
                to = f"p{n}@partner{n}.example"  # a new person and company each
                raw = message(sender="alice@acme.com", to=to, message_id=f"<w{n}@acme.com>")
                sent.append(_send(serve.smtp, raw))

        sending = threading.Thread(target=send)
        sending.start()
        made = [
            _graphql(connection, serve.token, CREATE, n=f"Person {n}", e=f"c{n}@client.example")
            for n in range(60)
        ]
        sending.join()
        assert [status for status, _ in made] == [200] * 60
        assert [body["data"]["createPerson"]["__typename"] for _, body in made] == ["Person"] * 60
        assert sent == [250] * 40

        query = "{ emails(first: 50) { nodes { id } } }"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _, body = _graphql(connection, serve.token, query)
            if len(body["data"]["emails"]["nodes"]) == 40:
                break
            time.sleep(0.5)
        connection.close()
        assert len(body["data"]["emails"]["nodes"]) == 40, serve.log.read_text()[-3000:]
        assert "database is locked" not in serve.log.read_text()

        # Ctrl-C in a terminal reaches every process of the group: all stop, none is replaced.
        os.killpg(serve.process.pid, signal.SIGINT)
        serve.process.wait(timeout=60)
        _wait_gone([worker])
        assert "starting another" not in serve.log.read_text()
