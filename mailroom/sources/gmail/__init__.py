"""Gmail through its REST API: what a Gmail sync calls, and the pieces under it.

client     `GmailClient(settings, tokens, http=None, fetch="batch")`, one per mailbox:
           `profile()`, `list_message_ids(page_token)`, `get_raw(ids)`,
           `history(start_history_id, page_token)`; `usage` counts requests and units
calls      the core of every request: quota first, bearer token, one refresh on 401,
           retries by class
fetch      raw messages by id: HTTP batches (adaptive, parts retried alone) or bounded
           concurrency
batch      Gmail's multipart/mixed batch format, both ways
quota      a token bucket per mailbox spending Gmail's quota units, waiting instead of refused
resources  the answers as frozen dataclasses: Profile, MessagePage, RawMessage, Gone,
           Oversize, HistoryPage, HistoryRecord, Change
errors     the sync errors, plus HistoryExpired (resync in full) and TooLargeError

Shared with the other providers' APIs: `sources.http` (one HTTP exchange, bounded in time and
size, no redirects) and `sources.retry` (how long to wait, and how many times).

How a sync uses it:

- First sync: `profile()` for the history id to continue from, then `list_message_ids()`
  page by page (newest first; drafts, chats, spam and trash excluded), and `get_raw()` for the
  ids not stored yet. Each id comes back as a `RawMessage` (bytes, threadId, labels, historyId,
  internalDate), `Gone` (deleted since listed: skip it) or `Oversize` (keep a placeholder).
- Increments: `history(stored_history_id)` page by page; `changes` of each page are
  messageAdded, messageDeleted, labelAdded and labelRemoved in order. A message that gained
  SPAM or TRASH, or was deleted, leaves; one that lost them (or was added) is fetched unless
  stored; DRAFT and CHAT are never kept. Store the last page's `history_id`.
- `HistoryExpired` means a full listing, reconciled with what is stored.
- `AuthError`: the mailbox needs reconnecting; `TransientError`: back off and retry later;
  `ProtocolError`: retry slowly, then fail the mailbox. Rate refusals are waited out inside
  the client and never reach the sync unless they last.
"""

from mailroom.sources.gmail.calls import Usage
from mailroom.sources.gmail.client import GmailClient
from mailroom.sources.gmail.errors import HistoryExpired, TooLargeError
from mailroom.sources.gmail.quota import QuotaBucket
from mailroom.sources.gmail.resources import (
    Change,
    Fetched,
    Gone,
    HistoryPage,
    HistoryRecord,
    MessagePage,
    MessageRef,
    Oversize,
    Profile,
    RawMessage,
)
from mailroom.sources.retry import RetryPolicy
from mailroom.sources.tokens import TokenSource

__all__ = [
    "Change",
    "Fetched",
    "GmailClient",
    "Gone",
    "HistoryExpired",
    "HistoryPage",
    "HistoryRecord",
    "MessagePage",
    "MessageRef",
    "Oversize",
    "Profile",
    "QuotaBucket",
    "RawMessage",
    "RetryPolicy",
    "TokenSource",
    "TooLargeError",
    "Usage",
]
