"""The small page a browser lands on after a consent: what happened, in plain words.

Everything shown is escaped (a provider's `error_description` arrives in the address bar, and
anyone can write one); the page loads nothing, may not be framed, and sends no Referer, since
its own address holds the code and the state.
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;"
    "color:#1f2328}h1{font-size:1.4rem}p.detail{color:#59636e}"
)


def page(
    title: str, *paragraphs: str, status: int = 200, detail: str | None = None
) -> HTMLResponse:
    """`title` and `paragraphs` are plain text; `detail`, what another party said, is shown
    apart from Mailroom's own words."""
    body = "".join(f"<p>{escape(text)}</p>" for text in paragraphs)
    if detail:
        body += f'<p class="detail">{escape(detail)}</p>'
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)} · Mailroom</title><style>{STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=HEADERS)
