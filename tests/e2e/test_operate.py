"""What an operator sees of a running `mailroom serve`, as a process: with
MAILROOM_LOG_FORMAT=json every line on stderr is a JSON object (uvicorn's too), the first of
Mailroom's says where everything is, each SMTP message is a line, and /metrics answers on a port
of its own and counts what happened."""

from __future__ import annotations

import json
import os
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mailroom.settings import Settings
from tests.helpers import message

DOMAIN = "ops.mailroom.test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> None:
    command = [sys.executable, "-m", "mailroom", *args]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)


def _wait_healthy(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"serve did not become healthy:\n{log.read_text()}")


def _send(port: int, raw: bytes, mail_from: str) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        try:
            client.sendmail(mail_from, [f"acme@{DOMAIN}"], raw.replace(b"\n", b"\r\n"))
        except smtplib.SMTPResponseException as error:
            return error.smtp_code
        return 250


def _counters(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_json_logs_banner_journal_and_metrics_on_their_own_port(
    settings: Settings, tmp_path: Path
) -> None:
    http, smtp, metrics = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "MAILROOM_DATABASE_URL": settings.database_url,
        "MAILROOM_DATA_DIR": str(settings.data_dir),
        "MAILROOM_HTTP_PORT": str(http),
        "MAILROOM_SMTP_PORT": str(smtp),
        "MAILROOM_METRICS_PORT": str(metrics),
        "MAILROOM_MAIL_DOMAIN": DOMAIN,
        "MAILROOM_LOG_FORMAT": "json",
    }
    _cli(env, "workspace", "create", "acme")
    _cli(env, "workspace", "set", "acme", "--sender-policy", "ADDRESS_ONLY")
    _cli(env, "member", "add", "acme", "alice@acme.com")
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "mailroom", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        _wait_healthy(http, server, log)
        mine = message(sender="alice@acme.com", message_id="<ops@acme.com>")
        assert _send(smtp, mine, "alice@acme.com") == 250
        spam = message(sender="eve@evil.example", message_id="<spam@evil.example>")
        assert _send(smtp, spam, "eve@evil.example") == 550
        assert httpx.get(f"http://127.0.0.1:{http}/metrics").status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{metrics}/metrics")
        assert scraped.status_code == 200
        counted = _counters(scraped.text)
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert counted[("mailroom_smtp_accepted_total", frozenset())] == 1
    refused = ("mailroom_smtp_refused_total", frozenset({("reason", "not_a_member")}))
    assert counted[refused] == 1

    lines: list[dict[str, Any]] = [json.loads(line) for line in log.read_text().splitlines()]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    [banner] = [line for line in lines if line["message"].startswith("Mailroom ")]
    assert banner["level"] == "INFO"
    assert banner["api"] == f"http://127.0.0.1:{http}/graphql"
    assert banner["metrics"] == f"http://127.0.0.1:{metrics}/metrics"
    assert banner["smtp"] == f"127.0.0.1:{smtp}"
    assert banner["mail_domain"] == DOMAIN
    assert banner["database"].split("://")[0] == settings.database_url.split("://")[0]
    assert "graphiql" not in banner  # off, as in production
    journal = [line for line in lines if line["logger"] == "mailroom.sources.smtp.journal"]
    assert [(line["message"], line["message_id"]) for line in journal] == [
        ("accepted", "<ops@acme.com>"),
        ("refused", "<spam@evil.example>"),
    ]
    assert journal[0]["queue_id"] and journal[1]["reason"] == "not_a_member"
