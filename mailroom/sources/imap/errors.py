"""What can go wrong in an IMAP sync: the sync errors of `mailroom.errors` (drawn there, with
what is done about each), and the one of IMAP's own. A changed UIDVALIDITY is not an error:
the folder is synced again from scratch.

`translated` is where imapclient's, imaplib's, the sockets' and TLS's errors become these, once.
"""

from __future__ import annotations

import imaplib
import ssl
from collections.abc import Callable
from typing import Any, TypeVar

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from mailroom.errors import (
    AuthError,
    InvalidInputError,
    ProtocolError,
    SyncError,
    TransientError,
)

__all__ = [
    "AuthError",
    "HostRefusedError",
    "ProtocolError",
    "SyncError",
    "TransientError",
    "describe",
    "kind",
    "translated",
]
T = TypeVar("T")


class HostRefusedError(ProtocolError, InvalidInputError):
    """The host does not resolve, or resolves to an address the workspace may not reach."""


def translated(function: Callable[..., T], *args: Any) -> T:
    """Run an imapclient call and turn its failures into sync errors."""
    try:
        return function(*args)
    except SyncError:
        raise
    except IMAPClientAbortError as error:
        raise TransientError(f"the connection was dropped: {describe(error)}") from error
    except TimeoutError as error:
        raise TransientError("the server did not answer in time") from error
    except ssl.SSLCertVerificationError as error:
        raise ProtocolError(f"the server's TLS certificate is not valid: {error}") from error
    except (ConnectionError, OSError, EOFError, imaplib.IMAP4.abort) as error:
        raise TransientError(f"network error: {describe(error)}") from error
    except IMAPClientError as error:
        message = describe(error)
        if "[UNAVAILABLE]" in message or "[LIMIT]" in message or "[INUSE]" in message:
            raise TransientError(f"the server is busy: {message}") from error
        raise ProtocolError(f"the server refused a command: {message}") from error
    except (ValueError, LookupError) as error:
        # imapclient's parsers, on an answer they cannot read.
        raise ProtocolError(f"the server's answer could not be read: {describe(error)}") from error


def describe(error: BaseException) -> str:
    text = str(error)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text or type(error).__name__


def kind(error: SyncError) -> str:
    """The class of a sync error by what is done about it, for logs and metrics: auth,
    protocol, transient (or error, for a SyncError of no class)."""
    if isinstance(error, AuthError):
        return "auth"
    if isinstance(error, ProtocolError):
        return "protocol"
    return "transient" if isinstance(error, TransientError) else "error"
