"""The GraphiQL page and its files, over HTTP through the real app: served by Mailroom alone,
with content types, caching and a content security policy, and only when it is on. (A real
browser uses it in tests/e2e/test_graphiql_browser.py.)"""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

import mailroom.graphql
from mailroom.app import create_app
from mailroom.graphql.graphiql import GraphiQLPage
from mailroom.settings import Settings

PACKAGE = Path(mailroom.graphql.__file__).parent
STATIC = PACKAGE / "static"
VENDORED = STATIC / "graphiql"
ROOT = PACKAGE.parents[1]
BASE = "http://mailroom.test"


async def _client(tmp_path: Path, graphiql: bool) -> AsyncIterator[httpx.AsyncClient]:
    # The page and its files need no database: the app's lifespan is not run.
    app = create_app(Settings(data_dir=tmp_path, graphiql=graphiql))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(tmp_path, graphiql=True):
        yield client


@pytest.fixture
async def production(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(tmp_path, graphiql=False):
        yield client


def _references(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


async def test_the_page_loads_only_what_mailroom_serves(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    references = _references(page.text)
    assert len(references) == 7  # GraphiQL's CSS and script, React, ReactDOM, Mailroom's three
    for reference in references:
        url = urlsplit(urljoin(f"{BASE}/graphql", reference))
        assert (url.netloc, url.path[: len("/graphql/static/")]) == (
            "mailroom.test",
            "/graphql/static/",
        ), reference
    assert "//" not in page.text  # no other host named, not even in a comment
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    assert "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-cache"


async def test_the_page_says_how_to_get_a_token_and_holds_none(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql")
    assert "mailroom token create SLUG EMAIL" in page.text
    assert 'id="mailroom-token"' in page.text and 'type="password"' in page.text
    assert "Authorization: Bearer" in page.text


async def test_each_file_with_its_type_and_cached_by_its_digest(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/graphql")
    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
    types[".svg"] = "image/svg+xml"
    for reference in _references(page.text):
        url = urljoin(f"{BASE}/graphql", reference)
        path = urlsplit(url).path.removeprefix("/graphql/static/")
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.content == (STATIC / path).read_bytes()
        assert response.headers["content-type"] == types[Path(path).suffix]
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        again = await client.get(url, headers={"If-None-Match": response.headers["etag"]})
        assert (again.status_code, again.content) == (304, b"")
        # Without the digest (or with an old one) the browser must check again.
        stale = await client.get(url.replace("?v=", "?v=0"))
        assert stale.headers["cache-control"] == "no-cache"


async def test_nothing_else_is_served(client: httpx.AsyncClient) -> None:
    for path in [
        "graphiql/README.md",
        "graphiql/LICENSE.react",
        "graphiql.html",
        "../graphiql.py",
        "..%2Fgraphiql.py",
        "graphiql/nothing.js",
    ]:
        response = await client.get(f"/graphql/static/{path}")
        assert response.status_code == 404, path


async def test_off_by_default(production: httpx.AsyncClient) -> None:
    page = await production.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 401 and "text/html" not in page.headers["content-type"]
    asset = await production.get("/graphql/static/graphiql/graphiql.min.js")
    assert asset.status_code == 404
    assert Settings().graphiql is False


def test_a_page_naming_a_file_not_shipped_is_refused(tmp_path: Path) -> None:
    (tmp_path / "graphiql.html").write_text('<script src="{{ graphiql/missing.js }}"></script>')
    with pytest.raises(LookupError, match="graphiql/missing.js"):
        GraphiQLPage(tmp_path)


def test_each_vendored_file_is_accounted_for() -> None:
    """The README beside the files names each one, at the versions the refresh script pins."""
    readme = (VENDORED / "README.md").read_text()
    for path in VENDORED.iterdir():
        if path.name != "README.md":
            assert f"`{path.name}`" in readme, path.name
    script = (ROOT / "config" / "graphiql-assets.sh").read_text()
    for package, variable in [("graphiql", "GRAPHIQL"), ("react", "REACT")]:
        version = re.search(rf"^{variable}=(\S+)$", script, re.MULTILINE)
        assert version, variable
        assert f"{package}@{version[1]}" in readme
    react = re.search(r'version="([\d.]+)"', (VENDORED / "react.production.min.js").read_text())
    assert react and f"react@{react[1]}" in readme


def test_a_wheel_carries_every_file() -> None:
    """pyproject.toml's package data covers everything under static/, so that an install that is
    not editable serves the page too."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        patterns = tomllib.load(file)["tool"]["setuptools"]["package-data"]["mailroom.graphql"]
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern) if path.is_file()}
    assert shipped == {path for path in STATIC.rglob("*") if path.is_file()}
