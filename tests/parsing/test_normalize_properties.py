"""Properties: normalize never raises, whatever the bytes; the address parser never invents."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailroom.envelope import Envelope
from mailroom.parsing.addresses.lists import parse_address_list
from mailroom.parsing.normalize import Limits, normalize
from tests.conftest import CORPORA

ARRIVAL = datetime(2030, 1, 1, tzinfo=UTC)
# Small limits make the bounded paths (headers only, cut headers, stopped walks) reachable too.
LIMITS = (Limits(), Limits(max_bytes=4000, max_headers=20, max_header_length=300, max_parts=5))

# Modest example counts keep the whole file to a few seconds; the corpora tests cover breadth.
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def small_messages() -> list[bytes]:
    """Corpus messages small enough to mutate quickly, plus one built here as a fallback."""
    found = [
        path.read_bytes()
        for path in sorted(CORPORA.glob("*/*"))
        if path.is_file() and path.suffix in ("", ".eml", ".msg") and path.stat().st_size < 20_000
    ]
    return found or [FALLBACK]


FALLBACK = (
    b"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: =?utf-8?q?hi?=\r\n"
    b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
    b"Content-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: text/html\r\n\r\n"
    b"<p>hello</p>\r\n--b--\r\n"
)
MESSAGES = small_messages()
SPECIALS = [
    b"\r\n",
    b"\r\n\r\n",
    b"--",
    b"--b\r\n",
    b'Content-Type: multipart/mixed; boundary="b"\r\n',
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"=?utf-8?b?",
    b"?=",
    b"\xff\xfe",
    b"\xc3",
    b"\x00",
    b'"',
    b"(",
    b"<",
    b">",
    b":;",
    b"@",
]


def check(envelope: Envelope, data: bytes) -> None:
    assert isinstance(envelope, Envelope)
    assert envelope.size == len(data)
    assert envelope.date.tzinfo is not None
    assert len(envelope.snippet) <= 200
    # Everything must be storable: valid UTF-8 (no lone surrogates) and no NUL in text.
    texts = [json.dumps(envelope.to_json(), ensure_ascii=False), envelope.html or ""]
    texts += [part.text for part in envelope.calendar]
    for text in texts:
        text.encode("utf-8")
    assert "\x00" not in (envelope.text or "") and "\x00" not in (envelope.subject or "")
    for _, address in envelope.participants():
        assert_one_unquoted_at(address.address)


def assert_one_unquoted_at(address: str) -> None:
    unquoted = []
    quoted = escaped = False
    for char in address:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted:
            unquoted.append(char)
    outside = "".join(unquoted)
    assert outside.count("@") == 1, address
    local, _, domain = address.rpartition("@")
    assert local and domain, address


@PROPERTY
@given(st.binary(max_size=3000), st.sampled_from(LIMITS))
def test_arbitrary_bytes(data: bytes, limits: Limits) -> None:
    check(normalize(data, arrival=ARRIVAL, limits=limits), data)


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(MESSAGES)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "special"]))
        if action == "flip" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif action == "truncate":
            del data[position:]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=40))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 200))]
        else:
            data[position:position] = draw(st.sampled_from(SPECIALS))
    return bytes(data)


@PROPERTY
@given(mutated_messages(), st.sampled_from(LIMITS))
def test_mutated_real_messages(data: bytes, limits: Limits) -> None:
    check(normalize(data, arrival=ARRIVAL, limits=limits), data)


HEADER_TEXT = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.sampled_from(list('ab.@<>",;: ()[]\\=?_-é\t\r\n')), max_size=80),
    st.binary(max_size=120).map(lambda raw: raw.decode("latin-1")),
)
HEADER_NAMES = [
    "From",
    "To",
    "Cc",
    "Bcc",
    "Sender",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Content-Type",
    "Content-Disposition",
    "Content-Transfer-Encoding",
    "List-Id",
    "Auto-Submitted",
    "Received",
]


@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), HEADER_TEXT), max_size=12))
def test_generated_header_values(headers: list[tuple[str, str]]) -> None:
    lines = [f"{name}: {value}".encode("utf-8", "surrogateescape") for name, value in headers]
    data = b"\r\n".join(lines) + b"\r\n\r\nbody\r\n"
    check(normalize(data, arrival=ARRIVAL), data)


ADDRESS_TEXT = st.one_of(
    st.text(max_size=120),
    st.text(alphabet=st.sampled_from(list('ab.@<>",;: ()[]\\=?é\u0430')), max_size=60),
    st.lists(
        st.sampled_from(
            ['"x, y"', "<a@b.org>", "a@b.org", "(c)", "@", ",", ":", ";", '"', " ", "Bob", "."]
        ),
        max_size=12,
    ).map("".join),
)


@settings(max_examples=500, deadline=None, database=None)
@given(ADDRESS_TEXT)
def test_address_parser_never_invents(value: str) -> None:
    addresses, defects = parse_address_list(value)
    for address in addresses:
        assert_one_unquoted_at(address.address)
        assert address.address == address.address.lower()
        assert address.name is None or address.name.strip() == address.name != ""
    assert all(isinstance(defect, str) for defect in defects)
