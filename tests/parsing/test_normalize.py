"""normalize on hand-written messages: one behaviour per test."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailroom.envelope import Address, Attachment, DateSource, Envelope
from mailroom.parsing.normalize import Limits, normalize

ARRIVAL = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def raw(*headers: str, body: str = "Hello.\r\n") -> bytes:
    """A message from header lines and a body, with CRLF line ends."""
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8", "surrogateescape")


def parse(data: bytes, limits: Limits | None = None) -> Envelope:
    return normalize(data, arrival=ARRIVAL, limits=limits or Limits())


def message(entity: str, *headers: str) -> bytes:
    """A message whose top-level entity (Content-Type, blank line, body) is `entity`."""
    return ("\r\n".join(headers or ("From: a@x.org",)) + "\r\n" + entity).encode()


def multipart(subtype: str, boundary: str, *parts: str, params: str = "") -> str:
    """A multipart entity: its Content-Type header line, a blank line, and the parts."""
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"{params}\r\n\r\n{body}'


def expected_attachment(
    filename: str | None,
    content_type: str,
    data: bytes,
    *,
    inline: bool = False,
    content_id: str | None = None,
) -> Attachment:
    """The record normalize should produce for an attachment whose decoded bytes are `data`."""
    return Attachment(
        filename, content_type, len(data), hashlib.sha256(data).hexdigest(), inline, content_id
    )


BASIC = (
    "From: Alice Martin <alice@example.org>",
    "To: Bob <bob@example.com>, carol@example.net",
    "Subject: Hello",
    "Date: Tue, 02 Jan 2024 10:00:00 +0100",
    "Message-ID: <abc123@example.org>",
)


# --- headers ----------------------------------------------------------------------------------


def test_basic_message() -> None:
    envelope = parse(raw(*BASIC))
    assert envelope.from_ == (Address("alice@example.org", "Alice Martin"),)
    assert envelope.to == (Address("bob@example.com", "Bob"), Address("carol@example.net"))
    assert envelope.subject == "Hello"
    assert envelope.message_id == "abc123@example.org"
    assert envelope.date == datetime(2024, 1, 2, 10, tzinfo=timezone(timedelta(hours=1)))
    assert envelope.date.utcoffset() == timedelta(hours=1)
    assert envelope.date_source is DateSource.HEADER
    assert envelope.text == "Hello.\n"
    assert envelope.html is None
    assert envelope.snippet == "Hello."
    assert envelope.defects == ()
    assert envelope.size == len(raw(*BASIC))
    assert not envelope.headers_only
    assert not envelope.bulk


def test_every_role_and_duplicates_within_a_role() -> None:
    envelope = parse(
        raw(
            "From: a@x.org",
            "Sender: s@x.org",
            "Reply-To: r@x.org",
            "To: t@x.org, T@X.org",
            "To: t2@x.org",
            "Cc: c@x.org",
            "Bcc: b@x.org",
        )
    )
    roles = [(role.value, address.address) for role, address in envelope.participants()]
    assert roles == [
        ("FROM", "a@x.org"),
        ("SENDER", "s@x.org"),
        ("REPLY_TO", "r@x.org"),
        ("TO", "t@x.org"),
        ("TO", "t2@x.org"),
        ("CC", "c@x.org"),
        ("BCC", "b@x.org"),
    ]


def test_address_defects_name_the_header() -> None:
    envelope = parse(raw("From: alice@example.org)<bob@example.org>", "Cc: Doe, x@y.org"))
    assert envelope.from_ == ()
    assert "From: dropped 'alice@example.org)<bob@example.org>': unexpected ')'" in (
        envelope.defects
    )
    assert "Cc: dropped 'Doe': not an address" in envelope.defects


def test_two_from_headers_are_a_defect() -> None:
    envelope = parse(raw("From: a@x.org", "From: b@y.org"))
    assert [a.address for a in envelope.from_] == ["a@x.org", "b@y.org"]
    assert "From: header appears 2 times" in envelope.defects


def test_raw_utf8_headers() -> None:
    data = raw("From: Jürgen Müller <jm@bücher.example>", "Subject: Grüße aus Zürich")
    envelope = parse(data)
    assert envelope.from_ == (Address("jm@bücher.example", "Jürgen Müller"),)
    assert envelope.subject == "Grüße aus Zürich"


def test_raw_8bit_headers_fall_back_to_the_message_charset() -> None:
    data = (
        "From: Jürgen <j@x.de>\r\nSubject: Grüße\r\n"
        "Content-Type: text/plain; charset=iso-8859-15\r\n\r\nhi\r\n"
    ).encode("iso-8859-15")
    envelope = parse(data)
    assert envelope.subject == "Grüße"
    assert envelope.from_ == (Address("j@x.de", "Jürgen"),)


def test_raw_8bit_headers_without_charset_fall_back_to_windows_1252() -> None:
    data = "Subject: “quoted” café\r\n\r\nhi\r\n".encode("cp1252")
    assert parse(data).subject == "“quoted” café"


def test_encoded_word_subjects() -> None:
    subject = "Subject: =?ISO-8859-1?Q?Caf=E9?= =?UTF-8?B?4oKs?= and =?koi8-r?B?8NLJ18XU?="
    assert parse(raw(subject)).subject == "Café€ and Привет"


def test_folded_subject_is_unfolded() -> None:
    assert parse(raw("Subject: one\r\n two\r\n\tthree")).subject == "one two\tthree"


def test_missing_subject_is_none() -> None:
    envelope = parse(raw("From: a@x.org"))
    assert envelope.subject is None
    assert envelope.normalized_subject == ""


# `Subject : x`, `From\t:a@x.org`: RFC 5322's obsolete syntax (4.5) allows blanks before the
# colon, and real mail has them. The stdlib takes such a line for the first line of a body.


def test_blanks_before_the_colon_with_lone_cr_line_ends() -> None:
    data = b"Subject : Hello\rFrom\t:a@x.org\rDate : Tue, 02 Jan 2024 10:00:00 +0100\r\rHi.\r"
    envelope = parse(data)
    assert envelope.subject == "Hello"
    assert envelope.from_ == (Address("a@x.org"),)
    assert envelope.date_source is DateSource.HEADER


def test_blanks_before_the_colon_in_the_headers_of_parts() -> None:
    text = (
        "Content-Type : text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding\t: quoted-printable\r\n"
        "\r\nTotal : 5 pommes, caf=C3=A9\r\n"
    )
    pdf = (
        "Content-Type: application/pdf\r\n"
        'Content-Disposition : attachment; filename="a.pdf"\r\n\r\nJVBERi0=\r\n'
    )
    envelope = parse(message(multipart("mixed", "m", text, pdf)))
    assert envelope.text == "Total : 5 pommes, café\n"
    assert [(a.filename, a.content_type) for a in envelope.attachments] == [
        ("a.pdf", "application/pdf")
    ]
    assert "MissingHeaderBodySeparatorDefect" not in envelope.defects


def test_blanks_before_the_colon_in_an_embedded_message() -> None:
    inner = (
        "Content-Type: message/rfc822\r\n\r\n"
        "Subject : Q3 plans\r\nFrom : x@y.org\r\n\r\nTotal : 5\r\n"
    )
    envelope = parse(message(multipart("mixed", "m", PLAIN, inner)))
    assert [a.filename for a in envelope.attachments] == ["Q3 plans.eml"]
    assert envelope.text == "Plain body\n"


def test_blanks_before_the_colon_after_a_multipart_content_type() -> None:
    """The stdlib keeps the lines after such a header as the multipart's preamble."""
    inner = "Content-Type: message/rfc822\r\n\r\n" + multipart(
        "alternative", "alt", PLAIN, HTML
    ).replace("\r\n\r\n", "\r\nSubject : Q4\r\n\r\n", 1)
    envelope = parse(message(multipart("mixed", "m", PLAIN, inner)))
    assert [a.filename for a in envelope.attachments] == ["Q4.eml"]


def test_nesting_written_with_blanks_before_the_colon() -> None:
    within = nested_multiparts(10).replace(b"Content-Type:", b"Content-Type :")
    assert parse(within).text == "deep"
    beyond = parse(nested_multiparts(40).replace(b"Content-Type:", b"Content-Type :"))
    assert "deep" not in (beyond.text or "")
    assert any(defect.startswith("MIME nesting deeper than 32") for defect in beyond.defects)


def test_rereading_parts_with_blanks_before_the_colon_is_bounded() -> None:
    """Each embedded message shows its own headers only once the one around it is read again:
    a long chain of them is read again only within a budget, not once per level."""
    level = "Content-Type : message/rfc822\r\n\r\nX-Level : {i}\r\n"
    chain = "".join(level.format(i=i) for i in range(3000)) + "\r\n" + "body\r\n" * 100_000
    data = ("From: a@x.org\r\nSubject: outer\r\n" + chain).encode()
    started = time.process_time()
    envelope = parse(data)
    assert time.process_time() - started < 10
    assert envelope.subject == "outer"
    assert any("read again" in defect for defect in envelope.defects)


@pytest.mark.parametrize(
    ("subject", "normalized"),
    [
        ("Re: Hello", "hello"),
        ("RE: Fwd: AW: WG: SV: VS: Antw: Doorst: TR: RV: Hello   World", "hello world"),
        ("Re[2]: Re(3): hello", "hello"),
        ("[dev-list] Re: [dev-list] Re: Patch", "patch"),
        ("Réf : Odp: YNT: Fw: x", "x"),
        ("回复：转发: 会议", "会议"),
        ("Return policy", "return policy"),
        ("Re:Re:Re:ping", "ping"),
        ("  Re:  ", ""),
    ],
)
def test_normalized_subject(subject: str, normalized: str) -> None:
    assert parse(raw(f"Subject: {subject}")).normalized_subject == normalized


# --- message ids ------------------------------------------------------------------------------


def test_message_ids_are_stored_without_brackets() -> None:
    envelope = parse(
        raw(
            "Message-ID: <one@x.org> (comment)",
            "In-Reply-To: Bob's message of Mon <two@x.org>",
            "References: <zero@x.org>\r\n <two@x.org>  <zero@x.org>",
        )
    )
    assert envelope.message_id == "one@x.org"
    assert envelope.in_reply_to == ("two@x.org",)
    assert envelope.references == ("zero@x.org", "two@x.org")


def test_message_ids_without_brackets_when_they_look_like_ids() -> None:
    envelope = parse(raw("Message-ID: 1234.5678@mail.example.org", "References: a@b c@d, e"))
    assert envelope.message_id == "1234.5678@mail.example.org"
    assert envelope.references == ("a@b", "c@d")


@pytest.mark.parametrize("value", ["<>", "", "garbage", "<" + "x" * 600 + "@y>"])
def test_garbage_message_id_is_none(value: str) -> None:
    assert parse(raw(f"Message-ID: {value}")).message_id is None


def test_long_references_keep_the_first_and_last_fifty() -> None:
    ids = [f"<m{i}@x.org>" for i in range(500)]
    envelope = parse(raw("References: " + "\r\n ".join(ids)))
    assert len(envelope.references) == 100
    assert envelope.references[0] == "m0@x.org"
    assert envelope.references[49] == "m49@x.org"
    assert envelope.references[50] == "m450@x.org"
    assert envelope.references[-1] == "m499@x.org"


# --- dates ------------------------------------------------------------------------------------

RECEIVED = (
    "Received: from a by b; Wed, 03 Jan 2024 09:00:00 -0500",
    "Received: from c by a; Wed, 03 Jan 2024 08:00:00 -0500",
)


def test_missing_date_falls_back_to_the_newest_received() -> None:
    envelope = parse(raw(*RECEIVED))
    assert envelope.date == datetime(2024, 1, 3, 9, tzinfo=timezone(timedelta(hours=-5)))
    assert envelope.date_source is DateSource.RECEIVED
    assert "no Date header; using the newest Received date" in envelope.defects


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "Tue, 31 Feb 2024 10:00:00 +0000",
        "Mon, 1 Jan 1900 00:00:00 +0000",
        "Fri, 1 Jan 2100 00:00:00 +0000",
    ],
)
def test_unparseable_or_absurd_date_falls_back(value: str) -> None:
    envelope = parse(raw(f"Date: {value}", *RECEIVED))
    assert envelope.date_source is DateSource.RECEIVED
    assert envelope.date.year == 2024
    assert any(defect.startswith("Date header") for defect in envelope.defects)


def test_no_date_at_all_falls_back_to_arrival() -> None:
    envelope = parse(raw("Received: from a by b (no date here)"))
    assert envelope.date == ARRIVAL
    assert envelope.date_source is DateSource.ARRIVAL
    assert "no Date header; using the arrival time" in envelope.defects


def test_arrival_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    envelope = normalize(raw("Subject: x"))
    assert before <= envelope.date <= datetime.now(UTC)
    assert envelope.date.tzinfo is not None


def test_naive_arrival_is_taken_as_utc() -> None:
    envelope = normalize(raw("Subject: x"), arrival=datetime(2030, 1, 1))
    assert envelope.date == ARRIVAL.replace(hour=0)


def test_date_without_zone_and_obsolete_forms() -> None:
    assert parse(raw("Date: 2 Jan 2024 10:00 -0000")).date == datetime(2024, 1, 2, 10, tzinfo=UTC)
    est = parse(raw("Date: Tue, 2 Jan 24 10:00:00 EST")).date
    assert est == datetime(2024, 1, 2, 10, tzinfo=timezone(timedelta(hours=-5)))
    iso = parse(raw("Date: 2024-01-02T10:00:00+02:00")).date
    assert iso.utcoffset() == timedelta(hours=2)


# --- bodies -----------------------------------------------------------------------------------

PLAIN = 'Content-Type: text/plain; charset="utf-8"\r\n\r\nPlain body\r\n'
HTML = (
    "Content-Type: text/html; charset=utf-8\r\n\r\n<p>HTML <b>body</b></p><script>x()</script>\r\n"
)


def test_alternative_takes_text_and_html_from_their_parts() -> None:
    envelope = parse(message(multipart("alternative", "b1", PLAIN, HTML), *BASIC[:2]))
    assert envelope.text == "Plain body\n"
    assert envelope.html is not None and "<b>body</b>" in envelope.html
    assert envelope.attachments == ()


def test_html_only_message_derives_its_text() -> None:
    html = (
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
        "<html><head><title>T</title><style>p{}</style></head><body>"
        "<p>First &amp; foremost</p><div>line<br>break</div><script>x()</script></body></html>"
    )
    envelope = parse(message(html))
    assert envelope.text == "First & foremost\n\nline\nbreak"
    assert envelope.snippet == "First & foremost line break"


def test_alternative_with_empty_plain_part_derives_text_from_html() -> None:
    empty = "Content-Type: text/plain\r\n\r\n \r\n"
    envelope = parse(message(multipart("alternative", "b", empty, HTML)))
    assert envelope.text == "HTML body"


def test_related_root_is_the_body_and_resources_are_inline() -> None:
    image = (
        "Content-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n"
        f"\r\n{base64.b64encode(b'PNGDATA').decode()}\r\n"
    )
    alternative = multipart("alternative", "alt", PLAIN, HTML)
    related = multipart("related", "rel", alternative, image)
    envelope = parse(message(related))
    assert envelope.text == "Plain body\n"
    assert envelope.attachments == (
        expected_attachment(None, "image/png", b"PNGDATA", inline=True, content_id="logo@x"),
    )


def test_related_start_parameter_picks_the_root() -> None:
    first = "Content-Type: text/plain\r\nContent-ID: <not-root>\r\n\r\nresource\r\n"
    root = "Content-Type: text/html\r\nContent-ID: <root@x>\r\n\r\n<p>root</p>\r\n"
    related = multipart("related", "rel", first, root, params='; start="<root@x>"')
    envelope = parse(message(related))
    assert envelope.text == "root"
    assert [a.content_id for a in envelope.attachments] == ["not-root"]
    assert envelope.attachments[0].inline


def test_mixed_keeps_inline_text_parts_in_order_and_attachments_apart() -> None:
    second = "Content-Type: text/plain\r\nContent-Disposition: inline\r\n\r\nSecond part\r\n"
    attached = (
        'Content-Type: text/plain; name="notes.txt"\r\n'
        'Content-Disposition: attachment; filename="notes.txt"\r\n\r\nnot the body\r\n'
    )
    mixed = multipart("mixed", "m", PLAIN, attached, second)
    envelope = parse(message(mixed))
    assert envelope.text == "Plain body\n\n\nSecond part\n"
    assert [(a.filename, a.content_type, a.size) for a in envelope.attachments] == [
        ("notes.txt", "text/plain", len(b"not the body\r\n"))
    ]


def test_named_text_part_inside_mixed_is_an_attachment() -> None:
    named = 'Content-Type: text/html; name="page.htm"\r\n\r\n<p>file</p>\r\n'
    envelope = parse(message(multipart("mixed", "m", PLAIN, named)))
    assert envelope.text == "Plain body\n"
    assert [a.filename for a in envelope.attachments] == ["page.htm"]


def test_embedded_message_is_an_attachment_named_after_its_subject() -> None:
    inner = (
        "Content-Type: message/rfc822\r\n\r\n"
        "From: x@y.org\r\nSubject: =?utf-8?q?Q3/Q4_plans?=\r\n\r\nInner body\r\n"
    )
    envelope = parse(message(multipart("mixed", "m", PLAIN, inner)))
    assert envelope.text == "Plain body\n"
    (attachment,) = envelope.attachments
    assert attachment.filename == "Q3_Q4 plans.eml"
    assert attachment.content_type == "message/rfc822"
    assert envelope.from_ == (Address("a@x.org"),)


def test_embedded_message_keeps_its_declared_name() -> None:
    inner = (
        'Content-Type: message/rfc822; name="fwd.eml"\r\n\r\nSubject: ignored\r\n\r\nInner body\r\n'
    )
    envelope = parse(message(multipart("mixed", "m", PLAIN, inner)))
    assert envelope.attachments[0].filename == "fwd.eml"


def test_base64_encoded_embedded_message_is_decoded_for_its_name() -> None:
    encoded = base64.b64encode(b"Subject: Inside\r\n\r\nbody\r\n").decode()
    inner = (
        f"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n"
    )
    envelope = parse(message(multipart("mixed", "m", PLAIN, inner)))
    (attachment,) = envelope.attachments
    assert attachment.filename == "Inside.eml"
    assert attachment.sha256 == hashlib.sha256(b"Subject: Inside\r\n\r\nbody\r\n").hexdigest()


def test_quoted_lines_are_left_out_of_the_snippet() -> None:
    body = "Sounds good.\r\n\r\nOn Mon, Bob wrote:\r\n> Shall we?\r\n>> Earlier\r\n"
    assert parse(raw("From: a@x.org", body=body)).snippet == "Sounds good. On Mon, Bob wrote:"


def test_snippet_is_at_most_200_characters() -> None:
    snippet = parse(raw("From: a@x.org", body="word " * 1000)).snippet
    assert 190 <= len(snippet) <= 200
    assert snippet.startswith("word word")


# --- charsets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "text", "encoding"),
    [
        ("ks_c_5601-1987", "안녕하세요", "cp949"),
        ("iso-8859-8-i", "שלום", "iso-8859-8"),
        ("gb2312", "你好 𠀀", "gb18030"),
        ("utf8", "naïve", "utf-8"),
        ("x-unknown", "naïve", "utf-8"),
        ("iso-8859-1", "“smart” quotes", "cp1252"),
        ("us-ascii", "undeclared ünïcode", "utf-8"),
        ("no-such-charset", "Grüße", "cp1252"),
        ("base64", "not a text codec", "utf-8"),
    ],
)
def test_wrong_or_unknown_charsets(charset: str, text: str, encoding: str) -> None:
    data = raw("From: a@x.org", f"Content-Type: text/plain; charset={charset}", body="").replace(
        b"\r\n\r\n", b"\r\n\r\n" + text.encode(encoding), 1
    )
    assert parse(data).text == text


def test_broken_utf8_keeps_the_valid_characters() -> None:
    data = raw("Content-Type: text/plain; charset=utf-8", body="") + "Привет мир".encode()[:-1]
    assert parse(data).text == "Привет ми\ufffd"


def test_html_meta_charset_is_used_when_mime_declares_none() -> None:
    html = '<html><head><meta charset="windows-1251"></head><body>Привет</body></html>'
    data = raw("Content-Type: text/html", body="") + html.encode("cp1251")
    assert parse(data).text == "Привет"


# --- attachments and calendar -----------------------------------------------------------------


def test_attachment_metadata() -> None:
    data = bytes(range(256)) * 10
    part = (
        "Content-Type: Application/PDF\r\nContent-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment;\r\n filename*=utf-8''%E2%82%AC%20rates.pdf;\r\n"
        ' filename="rates.pdf"\r\n\r\n' + base64.encodebytes(data).decode()
    )
    envelope = parse(message(multipart("mixed", "m", PLAIN, part)))
    assert envelope.attachments == (expected_attachment("€ rates.pdf", "application/pdf", data),)


@pytest.mark.parametrize(
    ("params", "filename"),
    [
        ('filename="=?utf-8?B?0JTQvtC60YPQvNC10L3Rgi5kb2N4?="', "Документ.docx"),
        ("filename*0*=utf-8''%E2%82; filename*1*=%AC; filename*2=\".txt\"", "€.txt"),
        ('filename="..\\\\..\\\\evil.exe"', "evil.exe"),
        ('filename="/etc/passwd"', "passwd"),
    ],
)
def test_attachment_filenames_are_decoded_and_stripped_of_directories(
    params: str, filename: str
) -> None:
    part = (
        "Content-Type: application/octet-stream\r\n"
        f"Content-Disposition: attachment; {params}\r\n\r\nx\r\n"
    )
    envelope = parse(message(multipart("mixed", "m", PLAIN, part)))
    assert envelope.attachments[0].filename == filename


def test_raw_8bit_filename() -> None:
    part = (
        'Content-Type: image/png; name="Картинка.png"\r\n'
        "Content-Disposition: attachment\r\n\r\nx\r\n"
    )
    envelope = parse(message(multipart("mixed", "m", PLAIN, part)))
    assert envelope.attachments[0].filename == "Картинка.png"


def test_inline_needs_a_content_id() -> None:
    with_cid = (
        "Content-Type: image/png\r\nContent-Disposition: inline\r\nContent-ID: <a@b>\r\n\r\nx\r\n"
    )
    without = "Content-Type: image/png\r\nContent-Disposition: inline\r\n\r\ny\r\n"
    mixed = multipart("mixed", "m", PLAIN, with_cid, without)
    envelope = parse(message(mixed))
    assert [(a.inline, a.content_id) for a in envelope.attachments] == [
        (True, "a@b"),
        (False, None),
    ]


ICS = "BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nBEGIN:VEVENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


def test_calendar_part_in_an_alternative() -> None:
    calendar = f"Content-Type: text/calendar; charset=utf-8; method=REQUEST\r\n\r\n{ICS}"
    alternative = multipart("alternative", "a", PLAIN, HTML, calendar)
    envelope = parse(message(alternative))
    (part,) = envelope.calendar
    assert part.method == "REQUEST"
    assert part.text == ICS.replace("\r\n", "\n")
    assert part.size == len(ICS.encode())
    assert envelope.attachments == ()
    assert envelope.text == "Plain body\n"


def test_calendar_method_from_the_icalendar_text() -> None:
    calendar = f"Content-Type: text/calendar\r\n\r\n{ICS}"
    envelope = parse(message(multipart("mixed", "m", PLAIN, calendar)))
    assert envelope.calendar[0].method == "CANCEL"


def test_attached_calendar_is_also_an_attachment() -> None:
    calendar = (
        "Content-Type: text/calendar; method=REQUEST\r\n"
        'Content-Disposition: attachment; filename="invite.ics"\r\n\r\n' + ICS
    )
    envelope = parse(message(multipart("mixed", "m", PLAIN, calendar)))
    assert len(envelope.calendar) == 1
    assert [(a.filename, a.content_type) for a in envelope.attachments] == [
        ("invite.ics", "text/calendar")
    ]


# --- bulk and automated signals ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "signal"),
    [
        ("List-Id: Dev list <dev.lists.example.org>", "list-id"),
        ("List-Unsubscribe: <mailto:leave@example.org>", "list-unsubscribe"),
        ("Precedence: bulk", "precedence:bulk"),
        ("Precedence: List", "precedence:list"),
        ("Precedence: junk", "precedence:junk"),
        ("Precedence: auto_reply", "precedence:auto_reply"),
        ("Auto-Submitted: auto-replied; owner-email=x@y.org", "auto-submitted:auto-replied"),
        ("Auto-Submitted: auto-generated", "auto-submitted:auto-generated"),
        ("X-Autoreply: yes", "x-autoreply"),
        ("X-Autorespond: yes", "x-autorespond"),
        ("From: MAILER-DAEMON@example.org", "mailer-daemon"),
        ("From: Postmaster <postmaster@example.org>", "mailer-daemon"),
        ("Return-Path: <>", "null-return-path"),
    ],
)
def test_bulk_signals(header: str, signal: str) -> None:
    envelope = parse(raw(header))
    assert signal in envelope.bulk_signals
    assert envelope.bulk


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: no",
        "Precedence: first-class",
        "X-Auto-Response-Suppress: All",
        "X-Auto-Response-Suppress: DR, OOF, AutoReply",
        "From: daemon-fan@example.org",
    ],
)
def test_not_bulk(header: str) -> None:
    envelope = parse(raw(header))
    assert envelope.bulk_signals == ()
    assert not envelope.bulk


def test_list_headers_are_kept() -> None:
    envelope = parse(
        raw(
            "List-Id: Dev list <dev.lists.example.org>",
            "List-Unsubscribe: <mailto:leave@example.org>,\r\n <https://x.org/u>",
            "Precedence: BULK",
            "Auto-Submitted: auto-generated",
        )
    )
    assert envelope.list_id == "dev.lists.example.org"
    assert envelope.list_unsubscribe == "<mailto:leave@example.org>, <https://x.org/u>"
    assert envelope.precedence == "bulk"
    assert envelope.auto_submitted == "auto-generated"


def test_delivery_report() -> None:
    status = (
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; x.org\r\n\r\nAction: failed\r\n"
    )
    report = multipart("report", "r", PLAIN, status, params="; report-type=delivery-status")
    envelope = parse(message(report, "From: MAILER-DAEMON@x.org"))
    assert envelope.delivery_report
    assert "delivery-report" in envelope.bulk_signals
    assert [a.content_type for a in envelope.attachments] == ["message/delivery-status"]


def test_read_receipt_is_automated_but_not_a_delivery_report() -> None:
    mdn = (
        "Content-Type: message/disposition-notification\r\n\r\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\r\n"
    )
    report = multipart("report", "r", PLAIN, mdn, params="; report-type=disposition-notification")
    envelope = parse(message(report))
    assert not envelope.delivery_report
    assert envelope.bulk_signals == ("read-receipt",)


# --- defects and limits -----------------------------------------------------------------------


def test_stdlib_defects_are_recorded_by_class_name() -> None:
    broken = (
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nno end\r\n"
    )
    envelope = parse(message(broken))
    assert "CloseBoundaryNotFoundDefect" in envelope.defects
    assert envelope.text == "no end"  # the line break before a delimiter belongs to it


def test_bad_base64_is_a_defect_not_an_error() -> None:
    part = (
        "Content-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nQUJD*\r\n"
    )
    envelope = parse(message(multipart("mixed", "m", PLAIN, part)))
    assert "InvalidBase64CharactersDefect" in envelope.defects
    assert envelope.attachments[0].size == 3


def test_multipart_without_boundary_is_read_as_text() -> None:
    data = raw("From: a@x.org", "Content-Type: multipart/mixed", body="just text\r\n")
    envelope = parse(data)
    assert envelope.text == "just text\n"
    assert "NoBoundaryInMultipartDefect" in envelope.defects


def test_oversized_message_is_read_headers_only() -> None:
    data = raw(*BASIC, body="x" * 5000)
    envelope = parse(data, limits=Limits(max_bytes=1000))
    assert envelope.headers_only
    assert envelope.subject == "Hello"
    assert envelope.from_ == (Address("alice@example.org", "Alice Martin"),)
    assert envelope.text is None
    assert envelope.size == len(data)
    assert f"message is {len(data)} bytes, over 1000: only headers were read" in envelope.defects


def test_too_many_headers_are_cut() -> None:
    headers = [f"X-Filler-{i}: {i}" for i in range(50)]
    envelope = parse(raw(*headers, "Subject: after the limit"), limits=Limits(max_headers=10))
    assert envelope.subject is None
    assert "more than 10 headers: the rest were ignored" in envelope.defects


def test_over_long_header_is_truncated() -> None:
    envelope = parse(raw("Subject: " + "x" * 500), limits=Limits(max_header_length=100))
    assert envelope.subject == "x" * 100
    assert "Subject header longer than 100 characters: truncated" in envelope.defects


def test_too_many_parts_stops_the_walk() -> None:
    parts = [f"Content-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(20)]
    envelope = parse(message(multipart("mixed", "m", *parts)), limits=Limits(max_parts=5))
    assert envelope.text == "\n\n".join(f"part {i}\n" for i in range(4))
    assert "more MIME parts than allowed: walk stopped" in envelope.defects


def nested_multiparts(depth: int, quoting: str = '"b{i}"', between: str = "") -> bytes:
    """`depth` multiparts inside each other; `between` goes after each part delimiter."""
    opening = "".join(
        f"Content-Type: multipart/mixed; boundary={quoting.format(i=i)}\r\n\r\n"
        f"--{_unquoted(quoting.format(i=i))}\r\n{between}"
        for i in range(depth)
    )
    closing = "".join(f"--{_unquoted(quoting.format(i=i))}--\r\n" for i in reversed(range(depth)))
    text = "From: a@x.org\r\n" + opening + "Content-Type: text/plain\r\n\r\ndeep\r\n" + closing
    return text.encode()


def _unquoted(value: str) -> str:
    return value[1:-1].replace('\\"', '"') if value.startswith('"') else value


def test_nesting_within_the_limit_is_read() -> None:
    envelope = parse(nested_multiparts(10))
    assert envelope.text == "deep"
    assert not envelope.headers_only


@pytest.mark.parametrize(
    ("depth", "quoting", "between", "line_end"),
    [
        (40, '"b{i}"', "", "\r\n"),
        (10_000, '"b{i}"', "", "\r\n"),
        (40, "b{i}", "", "\n"),
        (40, '"b{i}"', "", "\r"),  # the feedparser splits lines at a lone CR too
        (40, '"b\\"{i}"', "", "\r\n"),  # an escaped quote inside the boundary
        (40, '"b{i}"', "--b{i}--\r\n", "\r\n"),  # a close right after a delimiter is skipped
        (40, '"b{i}"', "Content-Type: message/rfc822\r\n\r\n", "\r\n"),
    ],
)
def test_deep_multipart_nesting_is_cut(
    depth: int, quoting: str, between: str, line_end: str
) -> None:
    data = nested_multiparts(depth, quoting, between).replace(b"\r\n", line_end.encode())
    envelope = parse(data)
    assert envelope.from_ == (Address("a@x.org"),)
    assert "deep" not in (envelope.text or "")
    assert any(defect.startswith("MIME nesting deeper than 32") for defect in envelope.defects)


def test_nesting_limit_is_configurable() -> None:
    assert parse(nested_multiparts(6), limits=Limits(max_depth=6)).text == "deep"
    envelope = parse(nested_multiparts(7), limits=Limits(max_depth=6))
    assert "deep" not in (envelope.text or "")
    assert any(defect.startswith("MIME nesting deeper than 6") for defect in envelope.defects)


def test_ten_thousand_nested_messages_fall_back_to_headers() -> None:
    nested = "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n" * 10_000
    data = ("From: a@x.org\r\nSubject: outer\r\n" + nested + "\r\nbody\r\n").encode()
    envelope = parse(data)
    assert envelope.headers_only
    assert envelope.subject == "outer"
    assert "MIME structure too deep for the parser: only headers were read" in envelope.defects


def test_hostile_content_type_parameters() -> None:
    # The stdlib's parameter splitter is quadratic here; this must stay quick and correct.
    content_type = 'Content-Type: multipart/mixed; x="' + ";" * 200_000 + '"; boundary="zz"'
    body = "--zz\r\nContent-Type: text/plain\r\n\r\ninside\r\n--zz--\r\n"
    envelope = parse(raw("From: a@x.org", content_type, body=body))
    assert envelope.text == "inside"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n",
        b"\x00" * 100,
        b"From: \xff\xfe\r\n\r\n\xff",
        b"garbage without headers",
        b"--\r\n" * 100,
    ],
)
def test_junk_input_still_gives_an_envelope(data: bytes) -> None:
    envelope = parse(data)
    assert isinstance(envelope, Envelope)
    assert envelope.size == len(data)
    assert envelope.date_source is DateSource.ARRIVAL


def test_many_sibling_multiparts_are_not_mistaken_for_deep_nesting() -> None:
    # More boundary declarations than the depth limit, all side by side: nothing is cut.
    forwarded = [
        "Content-Type: message/rfc822\r\n\r\n"
        f"Subject: fwd {i}\r\n" + multipart("alternative", f"in{i}", PLAIN, HTML)
        for i in range(40)
    ]
    alternatives = [multipart("alternative", f"alt{i}", PLAIN, HTML) for i in range(40)]
    envelope = parse(message(multipart("mixed", "outer", *forwarded, *alternatives)))
    assert not any("nesting" in defect for defect in envelope.defects)
    assert [a.filename for a in envelope.attachments] == [f"fwd {i}.eml" for i in range(40)]
    assert envelope.text == "\n\n".join(["Plain body\n"] * 40)


def test_an_unexpected_failure_still_gives_the_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the MIME walk")

    monkeypatch.setattr("mailroom.parsing.normalize.collect_bodies", broken)
    envelope = parse(raw(*BASIC))
    assert envelope.headers_only
    assert envelope.subject == "Hello"
    assert envelope.from_ == (Address("alice@example.org", "Alice Martin"),)
    assert "normalize failed (RuntimeError): only the header block was read" in envelope.defects


def test_a_failure_on_the_headers_too_gives_an_empty_envelope(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr("mailroom.parsing.normalize.read_headers", broken)
    data = raw(*BASIC)
    envelope = parse(data)
    assert envelope.headers_only
    assert envelope.subject is None
    assert envelope.date == ARRIVAL
    assert envelope.size == len(data)
    assert envelope.defects == ("normalize failed (MemoryError): only the header block was read",)
