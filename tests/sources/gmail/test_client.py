"""The Gmail client against the local Gmail: listing, fetching, history, and every failure
Google answers with, through the client's public methods."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from fakes.gmail import FakeGmail
from mailroom.errors import AuthError, ProtocolError, TransientError
from mailroom.sources.gmail import (
    GmailClient,
    Gone,
    HistoryExpired,
    Oversize,
    QuotaBucket,
    RawMessage,
)
from tests.sources.gmail.conftest import Tokens, message

Connect = Callable[..., GmailClient]
MODES = ["batch", "concurrent"]


async def all_ids(client: GmailClient) -> list[str]:
    ids: list[str] = []
    token = None
    while True:
        page = await client.list_message_ids(token)
        ids += [ref.id for ref in page.messages]
        token = page.next_page_token
        if token is None:
            return ids


async def test_pages_through_1200_messages_newest_first(gmail: FakeGmail, connect: Connect):
    dates = random.sample(range(1_600_000_000_000, 1_700_000_000_000, 1000), 1200)
    added = {gmail.add(message(n), internal_date=date): date for n, date in enumerate(dates)}
    client = connect()

    first = await client.list_message_ids()
    ids = await all_ids(client)

    assert len(first.messages) == 500 and first.result_size_estimate == 1200
    assert ids == sorted(added, key=added.__getitem__, reverse=True)
    assert client.usage.requests == 4  # the first page twice, then two more


async def test_drafts_chats_spam_and_trash_are_left_out(gmail: FakeGmail, connect: Connect):
    kept = {
        gmail.add(message(1), ["INBOX", "UNREAD"]),
        gmail.add(message(2), ["SENT"]),
        gmail.add(message(3), []),  # archived
        gmail.add(message(4), ["Label_7", "IMPORTANT"]),
    }
    for number, labels in enumerate([["DRAFT"], ["CHAT"], ["SPAM"], ["TRASH", "INBOX"]]):
        gmail.add(message(10 + number), labels)
    trashed = gmail.add(message(20))
    gmail.trash(trashed)
    spammed = gmail.add(message(21))
    gmail.spam(spammed)

    assert set(await all_ids(connect())) == kept


@pytest.mark.parametrize("mode", MODES)
async def test_raw_bytes_arrive_intact(gmail: FakeGmail, connect: Connect, mode: str):
    raws = [
        message(1, "Grüße, naïve café\r\n".encode("latin-1") + bytes(range(128, 256))),
        message(2, b"bare\nline feeds\n\nand CRLF\r\n.\r\n"),
        message(3, b"=?utf-8?q?x?= \x00 nul and \xff\xfe"),
    ]
    ids = [gmail.add(raw, ["INBOX", "SENT"], thread_id="t-1") for raw in raws]
    gmail.label(ids[0], "STARRED")

    fetched = await connect(fetch=mode).get_raw(ids)

    assert list(fetched) == ids
    for message_id, raw in zip(ids, raws, strict=True):
        got = fetched[message_id]
        assert isinstance(got, RawMessage)
        assert got.raw == raw
        assert got.thread_id == "t-1"
        stored = gmail.messages[message_id]
        assert got.label_ids == stored.labels
        assert got.history_id == stored.history_id
        assert got.internal_date.timestamp() * 1000 == stored.internal_date
    assert "STARRED" in fetched[ids[0]].label_ids  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", MODES)
async def test_a_message_deleted_after_listing_is_gone(
    gmail: FakeGmail, connect: Connect, mode: str
):
    ids = [gmail.add(message(n)) for n in range(5)]
    client = connect(fetch=mode)
    listed = await all_ids(client)
    gmail.delete(ids[2])

    fetched = await client.get_raw(listed)

    assert fetched[ids[2]] == Gone(ids[2])
    assert all(isinstance(fetched[i], RawMessage) for i in ids if i != ids[2])


async def test_a_failing_batch_part_is_retried_alone(gmail: FakeGmail, connect: Connect):
    ids = [gmail.add(message(n)) for n in range(10)]
    gmail.fail_message(ids[4], times=1, status=503)
    client = connect()

    fetched = await client.get_raw(ids)

    assert all(isinstance(fetched[i], RawMessage) for i in ids)
    assert gmail.batch_sizes == [10]
    assert gmail.calls["gmail.users.messages.get"] == 11  # the ten, then the failed one alone
    assert client.usage.units == gmail.units == 11 * 5


async def test_batch_parts_refused_as_too_many_at_once_shrink_the_batch(
    gmail: FakeGmail, connect: Connect
):
    ids = [gmail.add(message(n)) for n in range(120)]
    gmail.max_concurrent = 20
    client = connect()

    fetched = await client.get_raw(ids)

    assert all(isinstance(fetched[i], RawMessage) for i in ids)
    assert gmail.batch_sizes[0] == 50
    assert max(gmail.batch_sizes[1:]) <= 20  # shrunk to what Google took at once
    assert gmail.served[429] == 30  # refused once, never again


@pytest.mark.parametrize("mode", MODES)
async def test_an_expired_token_is_refreshed_once(gmail: FakeGmail, connect: Connect, mode: str):
    ids = [gmail.add(message(n)) for n in range(3)]
    tokens = Tokens(gmail)
    client = connect(tokens=tokens, fetch=mode)
    await client.profile()
    gmail.expire_tokens()

    fetched = await client.get_raw(ids)

    assert all(isinstance(fetched[i], RawMessage) for i in ids)
    assert tokens.refreshes == 1 == client.usage.refreshes
    assert gmail.served[401] >= 1


async def test_a_token_refused_after_its_refresh_is_an_auth_error(
    gmail: FakeGmail, connect: Connect
):
    class Revoked(Tokens):
        async def refreshed(self, rejected: str) -> str:
            self.refreshes += 1
            return "ya29.not-valid"

    tokens = Revoked(gmail)
    gmail.expire_tokens()

    with pytest.raises(AuthError):
        await connect(tokens=tokens).profile()
    assert tokens.refreshes == 1


@pytest.mark.parametrize("status", [429, 403])
async def test_a_rate_refusal_storm_waits_retry_after(
    gmail: FakeGmail, connect: Connect, status: int
):
    reason = "rateLimitExceeded" if status == 429 else "userRateLimitExceeded"
    gmail.throttle(2, retry_after=1, status=status, reason=reason)
    client = connect()

    started = time.monotonic()
    profile = await client.profile()
    elapsed = time.monotonic() - started

    assert profile.email_address == gmail.address
    assert gmail.served[status] == 2
    assert 2.0 <= elapsed < 2 * 1.1 + 1.0  # Retry-After twice, plus at most its jitter
    assert client.usage.throttled == 2


async def test_a_server_error_is_retried(gmail: FakeGmail, connect: Connect):
    gmail.fail(2, status=502)
    client = connect()

    assert (await client.profile()).history_id == gmail.history_id
    assert client.usage.retried == 2


@pytest.mark.parametrize("mode", MODES)
async def test_server_errors_that_last_are_transient(gmail: FakeGmail, connect: Connect, mode: str):
    ids = [gmail.add(message(n)) for n in range(3)]
    gmail.fail(100)
    client = connect(fetch=mode)

    with pytest.raises(TransientError):
        await client.get_raw(ids)
    with pytest.raises(TransientError):
        await client.list_message_ids()


async def test_a_slow_server_is_transient(gmail: FakeGmail, connect: Connect):
    gmail.delay = 2.0

    with pytest.raises(TransientError, match="in time"):
        await connect(gmail_timeout=0.2).profile()


async def test_history_pages_through_the_four_kinds_of_change(gmail: FakeGmail, connect: Connect):
    client = connect()
    start = (await client.profile()).history_id
    first = gmail.add(message(1))
    second = gmail.add(message(2), ["INBOX"], thread_id="t-9")
    gmail.label(first, "STARRED")
    gmail.spam(second)
    gmail.delete(first)

    changes, pages, token = [], 0, None
    while True:
        page = await client.history(start, token, max_results=2)
        changes += list(page.changes)
        pages += 1
        token = page.next_page_token
        if token is None:
            break

    assert pages == 3
    assert [(c.kind, c.message_id, set(c.label_ids)) for c in changes] == [
        ("messageAdded", first, {"INBOX"}),
        ("messageAdded", second, {"INBOX"}),
        ("labelAdded", first, {"STARRED"}),
        ("labelAdded", second, {"SPAM"}),
        ("labelRemoved", second, {"INBOX"}),
        ("messageDeleted", first, set()),
    ]
    assert changes[1].thread_id == "t-9"
    assert page.history_id == gmail.history_id == (await client.profile()).history_id


async def test_history_from_now_is_empty(gmail: FakeGmail, connect: Connect):
    gmail.add(message(1))
    client = connect()
    now = (await client.profile()).history_id

    page = await client.history(now)

    assert page.records == () and page.next_page_token is None and page.history_id == now


async def test_expired_history_asks_for_a_resync(gmail: FakeGmail, connect: Connect):
    client = connect()
    start = (await client.profile()).history_id
    gmail.add(message(1))
    gmail.expire_history()

    with pytest.raises(HistoryExpired):
        await client.history(start)
    assert (await client.history(gmail.history_id)).records == ()


async def test_the_quota_bucket_slows_rather_than_being_refused(gmail: FakeGmail, connect: Connect):
    # A two-second "minute" of 800 units, so that 1,000 units must be spread over it.
    gmail.quota_per_minute, gmail.quota_window = 800, 2.0
    ids = [gmail.add(message(n)) for n in range(200)]
    bucket = QuotaBucket.for_window(800, 2.0)
    client = connect(quota=bucket)

    started = time.monotonic()
    fetched = await client.get_raw(ids)
    elapsed = time.monotonic() - started

    assert all(isinstance(fetched[i], RawMessage) for i in ids)
    assert gmail.served[429] == 0
    expected = (1000 - bucket.capacity) / bucket.rate
    assert expected * 0.95 <= elapsed <= expected * 1.5 + 0.5
    assert max(gmail.batch_sizes) <= bucket.capacity // 5


@pytest.mark.parametrize("mode", MODES)
async def test_a_message_over_the_size_bound_is_not_read(
    gmail: FakeGmail, connect: Connect, mode: str
):
    small = gmail.add(message(1))
    large = gmail.add(message(2, b"x" * 200_000))
    client = connect(fetch=mode, max_message_bytes=10_000)

    fetched = await client.get_raw([small, large])

    assert isinstance(fetched[small], RawMessage)
    assert isinstance(fetched[large], Oversize)


async def test_a_missing_scope_is_an_auth_error(gmail: FakeGmail, connect: Connect):
    gmail.forbid("insufficientPermissions")

    with pytest.raises(AuthError, match="permission"):
        await connect().list_message_ids()


async def test_a_bad_request_is_a_protocol_error(gmail: FakeGmail, connect: Connect):
    with pytest.raises(ProtocolError, match="pageToken"):
        await connect().list_message_ids(page_token="not a token")


async def test_usage_counts_requests_calls_and_units(gmail: FakeGmail, connect: Connect):
    ids = [gmail.add(message(n)) for n in range(20)]
    client = connect()

    await client.profile()
    await client.list_message_ids()
    await client.get_raw(ids)
    await client.history(gmail.history_id)

    usage = client.usage
    assert (usage.requests, usage.calls) == (4, 23)
    assert usage.units == 1 + 5 + 20 * 5 + 2 == gmail.units
