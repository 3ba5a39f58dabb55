"""GraphiQL, served by Mailroom itself (when `MAILROOM_GRAPHIQL` is on): the page at GET /graphql
and the files it loads at /graphql/static/, all shipped in the package, so that it works with
no network (`static/graphiql/README.md` says where each file comes from)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

STATIC = Path(__file__).parent / "static"
# Relative to the page's own URL (/graphql), so that a proxy may serve the API under a prefix.
STATIC_URL = "graphql/static/"
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
# A file asked for by the digest of what it holds never changes; any other request revalidates.
_FOREVER = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
# The page loads nothing but what Mailroom serves. GraphiQL's components set some styles inline
# and its fonts and icons are data: URLs.
_PAGE_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
_PAGE_HEADERS = {
    "Content-Security-Policy": _PAGE_POLICY,
    "Cache-Control": _REVALIDATE,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_PLACEHOLDER = re.compile(r"\{\{\s*([\w./-]+)\s*\}\}")


@dataclass(frozen=True)
class Asset:
    """A file the page loads, read once."""

    body: bytes
    content_type: str
    digest: str  # of the body: the URL's `v` and the ETag

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


class GraphiQLPage:
    """The page and its assets, read from `directory` when built (not at import)."""

    def __init__(self, directory: Path = STATIC) -> None:
        self.assets = _read_assets(directory)
        template = (directory / "graphiql.html").read_text(encoding="utf-8")
        self.html = _PLACEHOLDER.sub(lambda match: self.url(match[1]), template)

    def url(self, name: str) -> str:
        """Where the page finds asset `name`; a name that is not shipped is an error."""
        try:
            asset = self.assets[name]
        except KeyError:
            raise LookupError(f"the GraphiQL page names {name!r}, which is not shipped") from None
        return f"{STATIC_URL}{name}?v={asset.digest}"

    def page(self) -> Response:
        return HTMLResponse(self.html, headers=_PAGE_HEADERS)

    def asset(self, request: Request) -> Response:
        found = self.assets.get(request.path_params["path"])
        if found is None:
            return PlainTextResponse("not found", status_code=404)
        cache = _FOREVER if request.query_params.get("v") == found.digest else _REVALIDATE
        headers = {"ETag": found.etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
        if _matches(request.headers.get("if-none-match", ""), found.etag):
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=found.content_type, headers=headers)


def _read_assets(directory: Path) -> dict[str, Asset]:
    assets = {}
    for path in sorted(directory.rglob("*")):
        content_type = _CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            continue
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:16]
        assets[path.relative_to(directory).as_posix()] = Asset(body, content_type, digest)
    return assets


def _matches(if_none_match: str, etag: str) -> bool:
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags
