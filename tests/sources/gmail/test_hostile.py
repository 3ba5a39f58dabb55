"""A Gmail that answers what no Gmail would: the client refuses it with a ProtocolError (or
asks again, where asking again is the right answer), reads no more than its bounds, and never
follows a redirect."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from fakes.gmail import FakeGmail
from fakes.gmail_http import GmailServer
from mailroom.errors import ProtocolError, TransientError
from mailroom.sources.gmail import GmailClient, RawMessage, TooLargeError
from mailroom.sources.gmail.client import LISTING_LIMIT_BYTES
from tests.sources.gmail.conftest import message

Connect = Callable[..., GmailClient]
PROFILE = "gmail.users.getProfile"
GET = "gmail.users.messages.get"


async def test_a_body_that_is_not_json(gmail: FakeGmail, connect: Connect):
    gmail.script(PROFILE, lambda request: Response(b"<html>Welcome</html>", 200))

    with pytest.raises(ProtocolError, match="not JSON"):
        await connect().profile()


async def test_json_of_the_wrong_shape(gmail: FakeGmail, connect: Connect):
    body = {"emailAddress": "alice@example.com", "historyId": 1234}  # a number, not a string
    gmail.script(PROFILE, lambda request: Response(json.dumps(body), 200))

    with pytest.raises(ProtocolError, match="historyId"):
        await connect().profile()


async def test_a_huge_json_body_is_refused_before_it_is_all_read(
    gmail: FakeGmail, connect: Connect
):
    sent = []

    def endless(request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            yield b'{"emailAddress": "'
            for _ in range(16 * 1024):  # a GiB, never sent in full
                sent.append(64 * 1024)
                yield b"a" * 64 * 1024

        return StreamingResponse(chunks(), media_type="application/json")

    gmail.script(PROFILE, endless)

    with pytest.raises(TooLargeError):
        await connect().profile()
    assert sum(sent) < LISTING_LIMIT_BYTES + 16 * 1024 * 1024


async def test_a_declared_length_over_the_bound_is_refused_unread(
    gmail: FakeGmail, connect: Connect
):
    gmail.script(
        PROFILE,
        lambda request: Response(b"{}", headers={"content-length": str(LISTING_LIMIT_BYTES + 1)}),
    )

    with pytest.raises(TooLargeError, match="declares"):
        await connect().profile()


async def test_a_redirect_is_not_followed(gmail: FakeGmail, connect: Connect):
    elsewhere = FakeGmail()
    with GmailServer(elsewhere):
        target = f"{elsewhere.url}/gmail/v1/users/me/profile"
        gmail.script(PROFILE, lambda request: RedirectResponse(target, status_code=302))

        with pytest.raises(ProtocolError, match="redirect"):
            await connect().profile()
    assert elsewhere.requests == 0


async def test_a_batch_answer_with_unknown_content_ids(gmail: FakeGmail, connect: Connect):
    ids = [gmail.add(message(n)) for n in range(3)]
    gmail.rename_parts = True

    with pytest.raises(ProtocolError, match="no request of ours"):
        await connect().get_raw(ids)


async def test_a_part_left_out_of_a_batch_answer_is_asked_again(gmail: FakeGmail, connect: Connect):
    ids = [gmail.add(message(n)) for n in range(5)]
    gmail.omit_parts = {ids[1]}
    client = connect()

    fetched = await client.get_raw(ids)

    assert all(isinstance(fetched[i], RawMessage) for i in ids)
    assert gmail.calls["gmail.users.messages.get"] == 5  # the left-out one only once, later
    assert client.usage.calls == 6


async def test_a_batch_answer_that_is_not_multipart(gmail: FakeGmail, connect: Connect):
    ids = [gmail.add(message(n)) for n in range(3)]
    gmail.script("batch", lambda request: Response(b"{}", media_type="application/json"))

    with pytest.raises(ProtocolError, match="multipart"):
        await connect().get_raw(ids)


async def test_a_part_answering_for_another_message(gmail: FakeGmail, connect: Connect):
    ids = [gmail.add(message(n)) for n in range(2)]
    other = gmail.messages[ids[1]]

    def wrong(request: Request) -> Response:
        body = {"id": other.id, "threadId": other.thread_id, "raw": "", "historyId": "1",
                "internalDate": "0"}  # fmt: skip
        return Response(json.dumps(body), media_type="application/json")

    gmail.script("gmail.users.messages.get", wrong)

    with pytest.raises(ProtocolError, match="for " + ids[0]):
        await connect(fetch="concurrent").get_raw([ids[0]])


async def test_a_server_that_drops_the_connection_is_transient(gmail: FakeGmail, connect: Connect):
    def broken(request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            yield b'{"emailAddress"'
            raise RuntimeError("the server died mid-answer")

        return StreamingResponse(chunks(), media_type="application/json")

    gmail.script(PROFILE, broken)

    with pytest.raises(TransientError):
        await connect().profile()


@pytest.mark.parametrize("lie", [".", "..", "x" * 5000, "a/b", "m\r\nX-Injected: 1"])
async def test_a_listed_id_that_is_no_gmail_id_is_refused(
    gmail: FakeGmail, connect: Connect, lie: str
) -> None:
    """A lying server's id would go into a request's path (`.` and `..` name another
    resource there) and into a stored key: it is refused before either."""

    def listing(request: Request) -> Response:
        body = {"messages": [{"id": lie, "threadId": "18c0"}], "resultSizeEstimate": 1}
        return JSONResponse(body)

    gmail.script("gmail.users.messages.list", listing)
    with pytest.raises(ProtocolError, match="is not an id"):
        await connect().list_message_ids()
    assert gmail.calls["gmail.users.messages.get"] == 0


async def test_header_fields_that_would_forge_others_are_refused_or_flattened(
    gmail: FakeGmail, connect: Connect
):
    ident = gmail.add(message(1))
    base = {
        "id": ident,
        "threadId": ident,
        "labelIds": ["INBOX"],
        "historyId": "2000",
        "internalDate": "1700000000000",
        "sizeEstimate": 90_000_000,
    }

    def answer(headers: list[dict[str, str]]) -> Callable[[Request], Response]:
        payload = {"mimeType": "text/plain", "headers": headers}
        return lambda request: JSONResponse({**base, "payload": payload})

    # A value with line breaks cannot add fields of its own.
    gmail.script(GET, answer([{"name": "Subject", "value": "Hi\r\nBcc: eve@evil.example"}]))
    head = await connect().get_head(ident)
    assert head.header == b"Subject: Hi Bcc: eve@evil.example\r\n\r\n"
    # A name that is no field name is a protocol error, not a header.
    gmail.script(GET, answer([{"name": "To: eve@evil.example\r\nX", "value": "y"}]))
    with pytest.raises(ProtocolError, match="field name"):
        await connect().get_head(ident)
    # A header larger than the parser would take is cut at a field's end.
    many = [{"name": "X-Filler", "value": "v" * 1000}] * 5000
    gmail.script(GET, answer(many))
    head = await connect().get_head(ident)
    assert 0 < len(head.header) <= 1024 * 1024 + 2
    assert head.header.endswith(b"v\r\n\r\n")
