"""Tortoise models, one module per aggregate, and their migrations (`models/migrations`)."""

from mailroom.models.base import Origin
from mailroom.models.calendar import CalendarCursor, Event, EventAttendee, EventCopy
from mailroom.models.intelligence import Connection, Exchange, Interaction
from mailroom.models.mailbox import (
    FolderCursor,
    Mailbox,
    MailboxStatus,
    Provider,
    ProviderItem,
    Sharing,
)
from mailroom.models.message import (
    Attachment,
    Direction,
    Message,
    MessageCopy,
    Participant,
    PendingIngest,
    RawMessage,
    Thread,
    ThreadKey,
    ThreadShare,
)
from mailroom.models.oauth import OAuthState
from mailroom.models.records import (
    Company,
    CompanyDomain,
    InteractionKind,
    NameSource,
    Person,
    PersonEmail,
)
from mailroom.models.workspace import (
    ApiToken,
    BlockKind,
    BlocklistEntry,
    Member,
    MemberRole,
    Plan,
    RecordCreationMode,
    SenderPolicy,
    Workspace,
)

MODEL_MODULES = [
    "mailroom.models.workspace",
    "mailroom.models.mailbox",
    "mailroom.models.message",
    "mailroom.models.records",
    "mailroom.models.oauth",
    "mailroom.models.calendar",
    "mailroom.models.intelligence",
]

__all__ = [
    "MODEL_MODULES",
    "ApiToken",
    "Attachment",
    "BlockKind",
    "BlocklistEntry",
    "CalendarCursor",
    "Company",
    "CompanyDomain",
    "Connection",
    "Direction",
    "Event",
    "EventAttendee",
    "EventCopy",
    "Exchange",
    "FolderCursor",
    "Interaction",
    "InteractionKind",
    "Mailbox",
    "MailboxStatus",
    "Member",
    "MemberRole",
    "Message",
    "MessageCopy",
    "NameSource",
    "OAuthState",
    "Origin",
    "Participant",
    "PendingIngest",
    "Person",
    "PersonEmail",
    "Plan",
    "Provider",
    "ProviderItem",
    "RawMessage",
    "RecordCreationMode",
    "SenderPolicy",
    "Sharing",
    "Thread",
    "ThreadKey",
    "ThreadShare",
    "Workspace",
]
