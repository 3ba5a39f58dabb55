"""Mailroom's error tree. Every error says what it is about (workspace, member, mailbox, file).

MailroomError
 ├── SettingsError        settings cannot be read or are invalid
 ├── DatabaseError        the database cannot be reached or migrated
 ├── NotFoundError        a workspace, member, mailbox or record does not exist
 ├── ConflictError        the thing being created already exists
 ├── InvalidInputError    an argument or input file cannot be used
 │    └── (imap) HostRefusedError   a mailbox's host is not a public address
 └── (workers) WorkerError          no normalize worker could be started

The IMAP sync's own errors (transient, auth, protocol) are drawn in `gateway/imap/errors.py`.
"""

from __future__ import annotations


class MailroomError(Exception):
    """Base of every error Mailroom raises on purpose; its message is shown to users as is."""


class SettingsError(MailroomError):
    pass


class DatabaseError(MailroomError):
    pass


class NotFoundError(MailroomError):
    pass


class ConflictError(MailroomError):
    pass


class InvalidInputError(MailroomError):
    pass
