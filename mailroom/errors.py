"""Mailroom's error tree. Every error says what it is about in its message, and carries the
workspace, mailbox and Message-ID it concerns (where they apply) for logs and callers.

MailroomError
 ├── SettingsError        settings cannot be read or are invalid
 ├── DatabaseError        the database cannot be reached, migrated or written
 ├── NotFoundError        a workspace, member, mailbox or record does not exist
 ├── ConflictError        the thing being created already exists, or was taken meanwhile
 ├── ForbiddenError       the member may not do this (an admin's or an owner's to do)
 ├── InvalidInputError    an argument or input file cannot be used
 │    └── HostRefusedError   (sources.imap) a mailbox's host is not a public address
 ├── WorkerError          no normalize worker could be started; API workers keep dying
 └── SyncError            a mailbox's sync failed; by what to do about it:
      ├── TransientError  timeouts, dropped connections, a busy server: back off and retry
      ├── AuthError       the login or grant is refused: the mailbox needs reconnecting
      │    └── GrantRefused   (oauth) the provider refused a code, a refresh token or the client
      └── ProtocolError   the server refuses what should work, or sends more than any answer
           │              may take: retry slowly; after repeated failures the mailbox fails
           └── HostRefusedError   (also an InvalidInputError: at connect, it is the input)

Foreign errors are translated once, where Mailroom meets them: imapclient's and the sockets'
in `sources.imap.client`, authlib's and httpx's at the OAuth endpoints in `oauth.client`,
Tortoise's in the service layer (`workspace`) and at the edges that answer a client (the
command line, the SMTP handler).
"""

from __future__ import annotations


class MailroomError(Exception):
    """Base of every error Mailroom raises on purpose; its message is shown to users as is."""

    def __init__(
        self,
        message: str,
        *,
        workspace: str | None = None,
        mailbox: str | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.workspace = workspace
        self.mailbox = mailbox
        self.message_id = message_id

    @property
    def context(self) -> dict[str, str]:
        """What the error is about, for a log line's fields."""
        found = {
            "workspace": self.workspace,
            "mailbox": self.mailbox,
            "message_id": self.message_id,
        }
        return {key: value for key, value in found.items() if value is not None}


class SettingsError(MailroomError):
    pass


class DatabaseError(MailroomError):
    pass


class NotFoundError(MailroomError):
    pass


class ConflictError(MailroomError):
    pass


class ForbiddenError(MailroomError):
    pass


class InvalidInputError(MailroomError):
    pass


class WorkerError(MailroomError):
    """A normalize worker could not be started (no message can be read until one can), or
    `serve`'s API worker processes keep dying."""


class SyncError(MailroomError):
    """A mailbox's sync failed (IMAP now; Gmail, Graph and CalDAV share the classes)."""


class TransientError(SyncError):
    pass


class AuthError(SyncError):
    pass


class ProtocolError(SyncError):
    pass
