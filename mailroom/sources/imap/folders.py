"""Which folders of an IMAP mailbox are synced, and in which role.

The inbox; the sent folder, found by its SPECIAL-USE flag (RFC 6154) and otherwise by the names
clients give it; and, where the server marks them, the \\All and \\Archive folders. Never junk,
trash or drafts: they hold nothing a CRM should learn from.
"""

from __future__ import annotations

from dataclasses import dataclass

SENT_NAMES = (
    "sent",
    "sent items",
    "sent messages",
    "sent mail",
    "[gmail]/sent mail",
    "inbox.sent",
    "inbox/sent",
    "gesendet",
    "gesendete elemente",
    "envoyés",
    "éléments envoyés",
    "enviados",
    "verzonden",
    "inviata",
)
EXCLUDED_FLAGS = {b"\\junk", b"\\trash", b"\\drafts", b"\\noselect", b"\\nonexistent"}


@dataclass(frozen=True, slots=True)
class Folder:
    name: str
    role: str  # inbox, sent, all, archive

    @property
    def outbound(self) -> bool | None:
        """Mail in the sent folder was sent by the owner; elsewhere the From decides."""
        return True if self.role == "sent" else None


def choose_folders(listed: list[tuple[tuple[bytes, ...], str]]) -> list[Folder]:
    """The folders to sync, from LIST's (flags, name) pairs."""
    chosen: dict[str, Folder] = {}
    sent_by_name: str | None = None
    for flags, name in listed:
        lowered = {flag.lower() for flag in flags}
        if lowered & EXCLUDED_FLAGS:
            continue
        if name.upper() == "INBOX":
            chosen.setdefault("inbox", Folder(name, "inbox"))
        elif b"\\sent" in lowered:
            chosen.setdefault("sent", Folder(name, "sent"))
        elif b"\\all" in lowered:
            chosen.setdefault("all", Folder(name, "all"))
        elif b"\\archive" in lowered:
            chosen.setdefault("archive", Folder(name, "archive"))
        elif sent_by_name is None and name.lower() in SENT_NAMES:
            sent_by_name = name
    if "sent" not in chosen and sent_by_name is not None:
        chosen["sent"] = Folder(sent_by_name, "sent")
    return [chosen[role] for role in ("inbox", "sent", "all", "archive") if role in chosen]
