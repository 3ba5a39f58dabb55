"""What can go wrong in a mailbox sync, by what to do about it (one fixed response each).

    SyncError
     ├── TransientError   timeouts (a step past its deadline too), dropped connections, a
     │                    busy server: back off and retry
     ├── AuthError        the login is refused: stop, mark the mailbox NEEDS_REAUTH
     └── ProtocolError    the server refuses what should work (bad TLS, a broken server), or
          │               sends more than any answer may take: retry slowly; after
          │               repeated failures the mailbox is FAILED
          └── HostRefusedError   the host does not resolve, or resolves to an address the
                                 workspace may not reach; also an InvalidInputError, since
                                 when a mailbox is connected it is the member's input

A changed UIDVALIDITY is not an error: the folder is synced again from scratch.
"""

from __future__ import annotations

from mailroom.errors import InvalidInputError, MailroomError


class SyncError(MailroomError):
    pass


class TransientError(SyncError):
    pass


class AuthError(SyncError):
    pass


class ProtocolError(SyncError):
    pass


class HostRefusedError(ProtocolError, InvalidInputError):
    pass
