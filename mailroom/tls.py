"""The TLS contexts of the connections Mailroom opens to providers (IMAP servers, Gmail,
Microsoft Graph, Google Calendar, CalDAV servers, OAuth token endpoints), made once a process.

Making a context loads a whole bundle of CA certificates, 20-30 ms of CPU. Made again for every
sync pass, it was most of the CPU a pass with nothing new costs (bench/scale.py). A context
keeps no connection's state and is meant to be shared, across threads too.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def system_context() -> ssl.SSLContext:
    """The operating system's trusted CAs, as mail clients use them: for IMAP."""
    return ssl.create_default_context()


@cache
def http_context() -> ssl.SSLContext:
    """httpx's default context (certifi's CAs): for the HTTP APIs, as `verify=True` makes it."""
    return httpx.create_ssl_context()
