"""GraphiQL in a real headless Chromium against a real `mailroom serve`, with no network: the
page loads everything from Mailroom, a person pastes a token, runs a query and sees its answer
(and a screenshot shows it); the token is still there after a reload."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as visible
from selenium.webdriver.support.wait import WebDriverWait

from mailroom.db import database
from mailroom.models import Plan
from mailroom.settings import Settings
from mailroom.workspace import add_member, create_token, create_workspace
from tests.e2e.services import require

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Headless on a machine without a GPU or a sandbox; the last five keep Chromium from calling
# Google's hosts on its own, and the resolver rule makes any name but loopback fail at once.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=1280,800",
]
WAIT = 20  # seconds an element may take to appear; each normally takes well under one


@pytest.fixture
def database_with_token(tmp_path: Path, sqlite_template: Path) -> tuple[Settings, str]:
    """A SQLite database with a workspace, a member and her API token."""
    path = tmp_path / "mailroom.sqlite3"
    shutil.copy(sqlite_template, path)
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite://{path}")

    async def prepare() -> str:
        async with database(settings):
            workspace = await create_workspace("acme", plan=Plan.PRO)
            return await create_token(await add_member(workspace, "alice@acme.com", admin=True))

    return settings, asyncio.run(prepare())


@pytest.fixture
def mailroom(database_with_token: tuple[Settings, str], tmp_path: Path) -> Iterator[str]:
    """`mailroom serve` with GraphiQL on (SMTP and IMAP off); yields the page's URL."""
    settings, _ = database_with_token
    port = _free_port()
    env = {
        **os.environ,
        "MAILROOM_DATABASE_URL": settings.database_url,
        "MAILROOM_DATA_DIR": str(settings.data_dir),
        "MAILROOM_HTTP_PORT": str(port),
        "MAILROOM_SMTP_ENABLED": "false",
        "MAILROOM_IMAP_ENABLED": "false",
        "MAILROOM_GRAPHIQL": "true",
        "MAILROOM_GRAPHQL_INTROSPECTION": "true",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "mailroom", "serve"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(port, server, log)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Debian's Chromium through Debian's chromedriver, with a profile of its own."""
    require(CHROMIUM, "chromium")
    require(CHROMEDRIVER, "chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'chromium'}"]:
        options.add_argument(flag)
    # Every request the page makes, and what it logs to the console.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # A driver path given means Selenium Manager (which would download one) never runs.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def test_a_person_runs_a_query_offline(
    mailroom: str, browser: WebDriver, database_with_token: tuple[Settings, str], tmp_path: Path
) -> None:
    _, token = database_with_token
    wait = WebDriverWait(browser, WAIT)
    browser.get(mailroom)

    # GraphiQL is up, and the page says how to get a token before one is given.
    wait.until(visible.visibility_of_element_located((By.CSS_SELECTOR, ".graphiql-editor")))
    assert "mailroom token create SLUG EMAIL" in browser.find_element(By.TAG_NAME, "header").text
    assert "No token yet" in _status(browser)

    # A mistyped token is refused at once, with the reason.
    field = browser.find_element(By.ID, "mailroom-token")
    field.send_keys(token[:-2])
    browser.find_element(By.ID, "mailroom-token-use").click()
    wait.until(lambda _: "This token was refused" in _status(browser))

    field.clear()
    field.send_keys(token)
    browser.find_element(By.ID, "mailroom-token-use").click()
    wait.until(lambda _: "as alice@acme.com in workspace acme" in _status(browser))

    # The welcome query ({ me { email } }), run with GraphiQL's own button.
    wait.until(visible.element_to_be_clickable((By.CSS_SELECTOR, ".graphiql-execute-button")))
    browser.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()
    wait.until(lambda _: '"email": "alice@acme.com"' in _result(browser))
    screenshot = tmp_path / "graphiql.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000

    # A reload keeps the token: the person is not asked again.
    browser.refresh()
    wait.until(lambda _: "as alice@acme.com" in _status(browser))

    requests = _requests(browser)
    # Over the network, only Mailroom was asked. data: URLs are GraphiQL's fonts and icons,
    # inside its CSS; chrome: ones are Chromium's own start page, inside the browser.
    network = {url for url, _, _ in requests if urlsplit(url).scheme not in ("data", "chrome")}
    assert {urlsplit(url).netloc for url in network} == {urlsplit(mailroom).netloc}, network
    assert {urlsplit(url).scheme for url in network} == {"http"}
    # Every query carried a token: the mistyped one, then the right one (its check, the schema,
    # the query, and after the reload the check and the schema again).
    sent = [_authorization(headers) for _, method, headers in requests if method == "POST"]
    assert sent[0] == f"Bearer {token[:-2]}"
    assert len(sent) >= 5 and set(sent[1:]) == {f"Bearer {token}"}
    # No script or style was refused (a CSP violation is a console error), and nothing failed
    # but the mistyped token's check.
    log = browser.get_log("browser")
    errors = [entry["message"] for entry in log if entry["level"] == "SEVERE"]
    assert len(errors) == 1 and "status of 401" in errors[0], errors


def _status(browser: WebDriver) -> str:
    return str(browser.find_element(By.ID, "mailroom-token-status").text)


def _result(browser: WebDriver) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, ".graphiql-response").text)


def _requests(browser: WebDriver) -> list[tuple[str, str, dict[str, str]]]:
    """Every request the page sent since the last call: URL, method and headers."""
    sent = []
    for entry in browser.get_log("performance"):
        event: dict[str, Any] = json.loads(entry["message"])["message"]
        if event["method"] == "Network.requestWillBeSent":
            request = event["params"]["request"]
            sent.append((request["url"], request["method"], request["headers"]))
    return sent


def _authorization(headers: dict[str, str]) -> str | None:
    return {name.lower(): value for name, value in headers.items()}.get("authorization")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("mailroom serve did not come up: " + log.read_text(errors="replace"))
