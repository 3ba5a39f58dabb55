"""What can go wrong in an IMAP sync: the sync errors of `mailroom.errors` (drawn there, with
what is done about each), and the one of IMAP's own. A changed UIDVALIDITY is not an error:
the folder is synced again from scratch."""

from __future__ import annotations

from mailroom.errors import (
    AuthError,
    InvalidInputError,
    ProtocolError,
    SyncError,
    TransientError,
)

__all__ = ["AuthError", "HostRefusedError", "ProtocolError", "SyncError", "TransientError"]


class HostRefusedError(ProtocolError, InvalidInputError):
    """The host does not resolve, or resolves to an address the workspace may not reach."""
