"""The Google Calendar client against the local Google Calendar: the request it makes, rate and
quota refusals waited out, server errors retried, a token refreshed once, and each way Google
refuses ending as the sync error that says what to do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from fakes.google_calendar import FakeGoogleCalendar
from mailroom.errors import AuthError, ProtocolError, TransientError
from mailroom.models import Mailbox
from mailroom.sources.google_calendar import (
    CalendarRefused,
    GoogleCalendarClient,
    SyncTokenExpired,
)
from tests.sources.google_calendar.conftest import NOW, Sync, Tokens, days

Connect = Callable[..., GoogleCalendarClient]


async def test_the_request_is_googles(calendar: FakeGoogleCalendar, connect: Connect) -> None:
    calendar.add("One", NOW + days(1))
    client = connect()
    page = await client.events(time_min=NOW - days(1), time_max=NOW + days(2))
    assert [e.event.summary for e in page.entries if e.event] == ["One"]
    assert page.next_page_token is None and page.next_sync_token
    again = await client.events(sync_token=page.next_sync_token)
    assert again.entries == () and again.next_sync_token == page.next_sync_token
    first, second = list(calendar.queries)
    assert dict(first) == {
        "singleEvents": "true",
        "maxResults": "500",
        "timeMin": (NOW - days(1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timeMax": (NOW + days(2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert dict(second) == {
        "singleEvents": "true",
        "maxResults": "500",
        "syncToken": page.next_sync_token,
    }
    with pytest.raises(ValueError, match="time bounds"):
        await client.events(sync_token="x", time_min=NOW)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (429, "rateLimitExceeded"),
        (403, "rateLimitExceeded"),
        (403, "userRateLimitExceeded"),
        (403, "quotaExceeded"),
    ],
)
async def test_rate_and_quota_refusals_are_waited_out(
    calendar: FakeGoogleCalendar, connect: Connect, status: int, reason: str
) -> None:
    calendar.add("One", NOW + days(1))
    calendar.throttle(3, retry_after=None, status=status, reason=reason)
    client = connect()
    page = await client.events(time_min=NOW)
    assert len(page.entries) == 1
    assert client.usage.throttled == 3 and client.usage.requests == 4
    assert client.usage.waited > 0


async def test_retry_after_is_honoured(calendar: FakeGoogleCalendar, connect: Connect) -> None:
    calendar.throttle(1, retry_after=1)
    client = connect()
    await client.events()
    assert 1.0 <= client.usage.waited <= 1.2


async def test_refusals_that_last_end_the_pass(
    calendar: FakeGoogleCalendar, connect: Connect
) -> None:
    calendar.throttle(6, retry_after=None, status=403, reason="userRateLimitExceeded")
    with pytest.raises(TransientError, match="kept refusing"):
        await connect().events()
    calendar.fail(3, status=503)
    with pytest.raises(TransientError, match="kept failing"):
        await connect().events()


async def test_server_errors_are_retried(calendar: FakeGoogleCalendar, connect: Connect) -> None:
    calendar.fail(2)
    client = connect()
    await client.events()
    assert client.usage.retried == 2


async def test_an_expired_access_token_is_refreshed_once(
    calendar: FakeGoogleCalendar, connect: Connect
) -> None:
    tokens = Tokens(calendar)
    client = connect(tokens=tokens)
    await client.events()
    calendar.expire_tokens()
    await client.events()
    assert tokens.refreshes == 1 and client.usage.refreshes == 1


class Revoked(Tokens):
    """A grant revoked at Google: the token in hand is refused, and so is the refresh."""

    async def refreshed(self, rejected: str) -> str:
        raise AuthError("Google refused the refresh token: reconnect the mailbox")


class Useless(Tokens):
    """A refresh that gives a token Google refuses as well."""

    async def refreshed(self, rejected: str) -> str:
        self.token = "ya29.useless"
        return self.token


async def test_a_grant_that_is_gone_is_an_auth_error(
    calendar: FakeGoogleCalendar, connect: Connect
) -> None:
    revoked, useless = Revoked(calendar), Useless(calendar)
    calendar.expire_tokens()
    with pytest.raises(AuthError, match="reconnect"):
        await connect(tokens=revoked).events()
    with pytest.raises(AuthError, match="even after a refresh"):
        await connect(tokens=useless).events()


async def test_each_refusal_is_its_error(calendar: FakeGoogleCalendar, connect: Connect) -> None:
    calendar.forbid()
    with pytest.raises(CalendarRefused, match="insufficientPermissions"):
        await connect().events()
    calendar.forbid(None)
    with pytest.raises(SyncTokenExpired):
        await connect().events(sync_token="CPnotatoken")
    with pytest.raises(ProtocolError, match="notFound"):
        await connect(calendar_id="someone@else.com").events()


async def test_a_sync_throttled_on_every_page_completes(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    for n in range(30):
        calendar.add(f"Call {n}", NOW + timedelta(hours=n))
    calendar.quota_per_minute = 3  # requests a minute, as Google's per-user quota counts them
    calendar.quota_window = 0.3
    done = await syncer(page_size=5).run()
    assert done.report.new == 30 and done.finished
    assert calendar.served[403] > 0
