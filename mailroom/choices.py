"""The stored values a person picks on the command line (`--plan`, `--record-creation-mode`,
`--sender-policy`, `--provider`): plain enumerations that the models store and `mailroom.models`
exports, kept here so that the command line names them without loading the database layer."""

from __future__ import annotations

from enum import StrEnum


class Plan(StrEnum):
    FREE = "FREE"
    PLUS = "PLUS"
    PRO = "PRO"
    ENTERPRISE = "ENTERPRISE"


class RecordCreationMode(StrEnum):
    """Which participants the resolver turns into people and companies."""

    ALL = "ALL"
    SELECTIVE = "SELECTIVE"
    NONE = "NONE"


class SenderPolicy(StrEnum):
    """How the forwarding gateway decides that mail really comes from a member."""

    VERIFIED = "VERIFIED"  # DKIM or SPF must pass, aligned with the From domain
    ADDRESS_ONLY = "ADDRESS_ONLY"  # the From address is enough (behind the operator's own MTA)


class Provider(StrEnum):
    """Where a mailbox's mail comes from."""

    IMPORT = "IMPORT"
    FORWARDING = "FORWARDING"
    IMAP = "IMAP"
    GMAIL = "GMAIL"
    MICROSOFT = "MICROSOFT"
    CALDAV = "CALDAV"  # calendars only: a CalDAV server's (Fastmail, iCloud, Nextcloud, ...)


class AccountProvider(StrEnum):
    """Whose accounts a member connects by consent (OAuth), as `--provider` and the API name
    them: a Google account's mail is a GMAIL mailbox, a Microsoft 365 (work or school)
    account's a MICROSOFT one (their calendars will come with them)."""

    GOOGLE = "GOOGLE"
    MICROSOFT = "MICROSOFT"
