"""A CalDAV server that answers what no CalDAV server would, and one that truncates its
listings or lacks sync-collection (what Radicale does not do): the client refuses the first
with an error (never a crash, a hang or a request elsewhere) and syncs the others right."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.responses import RedirectResponse, Response, StreamingResponse

from mailroom.errors import ProtocolError, TransientError
from mailroom.models import CalendarCursor, EventCopy, Mailbox
from mailroom.settings import Settings
from mailroom.sources.caldav import Account, CalDavClient, discover
from mailroom.sources.caldav.client import MULTIGET_LIMIT
from mailroom.sources.caldav.collection import MAX_ROUNDS
from mailroom.sources.caldav.errors import TooLargeError
from tests.sources.caldav.conftest import MONDAY, calendar, connect, sync, vevent
from tests.sources.caldav.scripted import (
    PASSWORD,
    USER,
    Call,
    Scripted,
    found,
    multistatus,
    scripted_server,
    status,
)


@pytest.fixture
def server() -> Iterator[Scripted]:
    with scripted_server() as running:
        yield running


@pytest.fixture
def elsewhere() -> Iterator[Scripted]:
    """Another server, where no request of Mailroom's may go."""
    with scripted_server() as running:
        yield running


def client(server: Scripted, path: str = "/cal/", timeout: float = 5.0) -> CalDavClient:
    account = Account(server.url + path, USER, PASSWORD, allow_private=True)
    return CalDavClient(account, timeout=timeout)


def event(n: int) -> str:
    return calendar(vevent(f"e{n}@acme", MONDAY, f"Event {n}"))


async def _titles(mailbox: Mailbox) -> list[str | None]:
    copies = await EventCopy.filter(mailbox_id=mailbox.id).prefetch_related("event")
    return sorted(copy.event.summary for copy in copies)


# Billion laughs: nine levels of ten references each, 10^9 a's if expanded.
LEVELS = zip("abcdefgh", "bcdefghi", strict=True)
BOMB = (
    '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {b} "{("&" + a + ";") * 10}">' for a, b in LEVELS)
    + ']><d:multistatus xmlns:d="DAV:"><d:response><d:href>&i;</d:href></d:response>'
    "</d:multistatus>"
)
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<d:multistatus xmlns:d="DAV:"><d:response><d:href>&x;</d:href></d:response>'
    "</d:multistatus>"
)


@pytest.mark.parametrize(("body", "refusal"), [(BOMB, "refused"), (EXTERNAL, "refused")])
async def test_entity_bombs_and_external_entities_are_refused(
    server: Scripted, body: str, refusal: str
) -> None:
    server.on(lambda call: Response(body, 207, media_type="application/xml"))
    started = time.monotonic()
    async with client(server) as caldav:
        with pytest.raises(ProtocolError, match=refusal):
            await discover(caldav)
    assert time.monotonic() - started < 5


async def test_huge_xml_is_not_read_past_its_bound(server: Scripted) -> None:
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        yield b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">'
        for _ in range(10_000):
            sent += 64 * 1024
            yield b"<d:response><d:href>/cal/x</d:href></d:response>" * 1300

    server.on(lambda call: StreamingResponse(endless(), 207, media_type="application/xml"))
    async with client(server) as caldav:
        with pytest.raises(TooLargeError, match="runs past"):
            await discover(caldav)
    assert sent < 10_000 * 64 * 1024  # it stopped reading


async def test_not_xml_and_not_a_multistatus_are_protocol_errors(server: Scripted) -> None:
    server.on(lambda call: Response("<html>Welcome</html>", 200, media_type="text/html"))
    async with client(server) as caldav:
        with pytest.raises(ProtocolError, match="answers 207"):
            await discover(caldav)
    server.on(lambda call: Response("{not xml", 207, media_type="application/xml"))
    async with client(server) as caldav:
        with pytest.raises(ProtocolError, match="not XML"):
            await discover(caldav)
    server.on(lambda call: Response('<x xmlns="DAV:"/>', 207, media_type="application/xml"))
    async with client(server) as caldav:
        with pytest.raises(ProtocolError, match="where a multistatus belongs"):
            await discover(caldav)


async def test_a_redirect_to_another_host_is_not_followed(
    server: Scripted, elsewhere: Scripted
) -> None:
    server.on(lambda call: RedirectResponse(elsewhere.url + "/cal/", 301))
    async with client(server) as caldav:
        with pytest.raises(ProtocolError, match="outside .*not followed"):
            await discover(caldav)
    assert elsewhere.seen == []  # the password went nowhere else


async def test_a_redirect_within_the_server_is_followed_a_few_times(server: Scripted) -> None:
    server.on(lambda call: RedirectResponse("/cal/", 301) if call.path == "/old/" else None)
    async with client(server, "/old/") as caldav:
        [found_calendar] = await discover(caldav)
    assert found_calendar.href == "/cal/"
    server.on(lambda call: RedirectResponse("/loop/", 307) if call.path == "/loop/" else None)
    async with client(server, "/loop/") as caldav:
        with pytest.raises(ProtocolError, match="redirected PROPFIND more than 3 times"):
            await discover(caldav)


async def test_members_on_another_host_are_skipped(
    caldav_settings: Settings, team: object, server: Scripted, elsewhere: Scripted
) -> None:
    server.resources = {"a.ics": event(1)}
    mailbox = await connect(caldav_settings, team, server.url + "/cal/", USER, PASSWORD)

    def listing(call: Call) -> Response | None:
        if call.method == "REPORT" and call.report == "sync":
            away = found(elsewhere.url + "/cal/b.ics", "<d:getetag>1</d:getetag>")
            return multistatus(found("/cal/a.ics", '<d:getetag>"1"</d:getetag>'), away, token="t")
        return None

    server.on(listing)
    await sync(caldav_settings, mailbox)
    assert await _titles(mailbox) == ["Event 1"]
    assert elsewhere.seen == []


async def test_a_listing_truncated_with_507_is_continued_from_its_token(
    caldav_settings: Settings, team: object, server: Scripted
) -> None:
    server.resources = {f"e{n}.ics": event(n) for n in range(3)}
    rounds = {
        "": (["e0.ics", "e1.ics"], "t1", True),
        "t1": (["e2.ics"], "t2", False),
        "t2": ([], "t2", False),
    }

    def truncating(call: Call) -> Response | None:
        if call.method != "REPORT" or call.report != "sync":
            return None
        names, token, truncated = rounds[call.token]
        members = [found(f"/cal/{n}", f"<d:getetag>{server.etag(n)}</d:getetag>") for n in names]
        if truncated:
            members.append(status("/cal/", 507, "Insufficient Storage"))
        return multistatus(*members, token=token)

    server.on(truncating)
    mailbox = await connect(caldav_settings, team, server.url + "/cal/", USER, PASSWORD)
    done = await sync(caldav_settings, mailbox)
    assert done.events.new == 3
    assert await _titles(mailbox) == ["Event 0", "Event 1", "Event 2"]
    cursor = await CalendarCursor.get(mailbox_id=mailbox.id)
    assert cursor.state["token"] == "t2" and "sweep" not in cursor.state
    again = await sync(caldav_settings, mailbox)
    assert (again.events.new, again.fetched) == (0, 0)


async def test_an_endless_sync_collection_ends_the_pass_with_an_error(
    caldav_settings: Settings, team: object, server: Scripted
) -> None:
    server.resources = {"a.ics": event(1)}
    mailbox = await connect(caldav_settings, team, server.url + "/cal/", USER, PASSWORD)
    rounds = 0

    def endless(call: Call) -> Response | None:
        nonlocal rounds
        if call.method != "REPORT" or call.report != "sync":
            return None
        rounds += 1
        more = status("/cal/", 507, "Insufficient Storage")
        member = found("/cal/a.ics", f'<d:getetag>"{rounds}"</d:getetag>')
        return multistatus(member, more, token=f"t{rounds}")

    server.on(endless)
    started = time.monotonic()
    with pytest.raises(ProtocolError, match=f"did not end in {MAX_ROUNDS} rounds"):
        await sync(caldav_settings, mailbox)
    assert rounds == MAX_ROUNDS and time.monotonic() - started < 60
    row = await Mailbox.get(id=mailbox.id)
    assert row.failures == 1 and "did not end" in (row.last_error or "")
    assert await _titles(mailbox) == ["Event 1"]  # what it listed is kept, once

    # A truncated listing whose token does not move is refused at once.
    server.on(
        lambda call: (
            multistatus(status("/cal/", 507), token="same")
            if call.method == "REPORT" and call.report == "sync"
            else None
        )
    )
    await CalendarCursor.filter(mailbox_id=mailbox.id).update(
        state={"mode": "sync", "token": "same", "baseline": MONDAY.isoformat()}
    )
    with pytest.raises(ProtocolError, match="without moving its sync token"):
        await sync(caldav_settings, mailbox)


async def test_calendar_data_that_is_no_calendar_stores_nothing_and_breaks_nothing(
    caldav_settings: Settings, team: object, server: Scripted
) -> None:
    server.resources = {
        "good.ics": event(1),
        "text.ics": "hello, world",
        "html.ics": "<html><body>Not found</body></html>",
        "broken.ics": "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:garbage\r\n",
        "todo.ics": "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
    }
    mailbox = await connect(caldav_settings, team, server.url + "/cal/", USER, PASSWORD)
    done = await sync(caldav_settings, mailbox)
    assert (done.fetched, done.unreadable, done.events.new) == (5, 0, 1)
    assert await _titles(mailbox) == ["Event 1"]


async def test_left_out_of_a_multiget_asked_alone_and_too_large_split(
    caldav_settings: Settings, team: object, server: Scripted
) -> None:
    server.resources = {f"e{n}.ics": event(n) for n in range(4)}
    padding = b"<!-- " + b"x" * (MULTIGET_LIMIT // 2) + b" -->"

    def stingy(call: Call) -> Response | None:
        if call.method != "REPORT" or call.report != "multiget":
            return None
        if len(call.hrefs) > 2:  # too large together: asked again in halves
            return Response(padding * 3, 207, media_type="application/xml")
        served = [h for h in call.hrefs if not h.endswith("e3.ics")]  # e3 left out: GET
        body = "".join(
            found(h, f"<c:calendar-data>{server.resources[h.rsplit('/', 1)[-1]]}</c:calendar-data>")
            for h in served
        )
        return multistatus(body)

    server.on(stingy)
    mailbox = await connect(caldav_settings, team, server.url + "/cal/", USER, PASSWORD)
    await sync(caldav_settings, mailbox)
    assert await _titles(mailbox) == [f"Event {n}" for n in range(4)]
    assert [c.path for c in server.seen if c.method == "GET"] == ["/cal/e3.ics"]


async def test_a_server_without_sync_collection_is_synced_by_ctag_and_etags(
    caldav_settings: Settings, team: object, server: Scripted
) -> None:
    server.supports_sync = False
    server.resources = {"a.ics": event(1), "b.ics": event(2)}
    mailbox = await connect(caldav_settings, team, server.url + "/cal/", USER, PASSWORD)
    await sync(caldav_settings, mailbox)
    assert await _titles(mailbox) == ["Event 1", "Event 2"]
    assert not [c for c in server.seen if c.method == "REPORT" and c.report == "sync"]

    server.seen.clear()
    await sync(caldav_settings, mailbox)  # the ctag did not move: no listing at all
    assert [(c.method, c.depth) for c in server.seen] == [("PROPFIND", "0")]

    server.resources = {"a.ics": calendar(vevent("e1@acme", MONDAY, "Moved", sequence=1))}
    server.resources["c.ics"] = event(3)
    server.ctag = "ctag-2"
    done = await sync(caldav_settings, mailbox)
    assert (done.fetched, done.events.removed) == (2, 1)
    assert await _titles(mailbox) == ["Event 3", "Moved"]


async def test_a_server_that_refuses_sync_collection_after_all_falls_back_to_etags(
    caldav_settings: Settings, team: object, server: Scripted
) -> None:
    server.resources = {"a.ics": event(1)}
    server.on(
        lambda call: (
            Response("", 501) if call.method == "REPORT" and call.report == "sync" else None
        )
    )
    mailbox = await connect(caldav_settings, team, server.url + "/cal/", USER, PASSWORD)
    await sync(caldav_settings, mailbox)
    assert await _titles(mailbox) == ["Event 1"]
    cursor = await CalendarCursor.get(mailbox_id=mailbox.id)
    assert cursor.state["mode"] == "etag" and cursor.state["refused"] is True


async def test_a_server_that_stops_answering_is_a_transient_error(server: Scripted) -> None:
    def stalled() -> Iterator[bytes]:
        yield b'<?xml version="1.0"?>'
        time.sleep(3)  # in the server's thread: the client's read timeout is 1 s
        yield b"<d:multistatus xmlns:d='DAV:'/>"

    server.on(lambda call: StreamingResponse(stalled(), 207, media_type="application/xml"))
    started = time.monotonic()
    async with client(server, timeout=1.0) as caldav:
        with pytest.raises(TransientError, match="in time"):
            await discover(caldav)
    assert time.monotonic() - started < 3
