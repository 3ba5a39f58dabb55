"""normalize on other parsers' test messages: none may raise, and a sample is checked in detail.

The corpora, CPython's own email test messages among them, are in tests/corpora (its README
names each source and its licence; MAILROOM_CORPORA overrides).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailroom.envelope import DateSource, Envelope
from mailroom.parsing.normalize import Limits, normalize
from mailroom.parsing.reader import read_message
from tests.conftest import CORPORA

CPYTHON_DATA = CORPORA / "cpython"
ARRIVAL = datetime(2030, 1, 1, tzinfo=UTC)


def corpus_messages() -> list[Path]:
    """Every message file of the corpora (not mime4j's expected outputs or flanker's extras)."""
    if not CORPORA.is_dir():
        return []
    messages = [
        *CORPORA.glob("flanker/**/*.eml"),
        *CORPORA.glob("flanker/dkim/email.*"),
        *CORPORA.glob("mime4j/*.msg"),
        *(path for path in CORPORA.glob("spamscope/*") if path.is_file()),
    ]
    return sorted(messages)


def cpython_messages() -> list[Path]:
    return sorted(CPYTHON_DATA.glob("msg_*.txt")) if CPYTHON_DATA.is_dir() else []


def read(name: str) -> Envelope:
    path = CORPORA / name
    assert path.is_file(), f"corpus file {path} is missing"
    return normalize(path.read_bytes(), arrival=ARRIVAL)


def test_the_corpora_are_there() -> None:
    """The corpora are part of the test input: their absence is a failure, not a skip."""
    assert len(corpus_messages()) > 100, f"no corpora at {CORPORA} (set MAILROOM_CORPORA)"
    assert len(cpython_messages()) > 30, f"no CPython email test messages at {CPYTHON_DATA}"


def check_invariants(envelope: Envelope, size: int) -> None:
    assert isinstance(envelope, Envelope)
    assert envelope.size == size
    assert envelope.date.tzinfo is not None
    for _, address in envelope.participants():
        local, _, domain = address.address.rpartition("@")
        assert local and domain
        assert address.address == address.address.lower()
    json.dumps(envelope.to_json())  # everything the CLI prints is serializable


@pytest.mark.parametrize("path", corpus_messages(), ids=lambda path: str(path.relative_to(CORPORA)))
def test_corpus_message_normalizes(path: Path) -> None:
    data = path.read_bytes()
    check_invariants(normalize(data, arrival=ARRIVAL), len(data))


@pytest.mark.parametrize("path", cpython_messages(), ids=lambda path: path.name)
def test_cpython_message_normalizes(path: Path) -> None:
    data = path.read_bytes()
    check_invariants(normalize(data, arrival=ARRIVAL), len(data))


# --- expected values, read from the files by hand ---------------------------------------------

EXPECTED: dict[str, dict[str, Any]] = {
    "spamscope/mail_test_19": {
        "subject": "Test email with email address as display name",
        "message_id": "test-email-as-name@example.com",
        "date": "2024-01-01T12:00:00+00:00",
        "from_": [("bob@example.com", "alice@example.com")],
        "to": [("charlie@example.com", "Charlie Brown"), ("dave@example.com", None)],
        "cc": [("frank@example.com", "eve@example.com")],
        "reply_to": [("ivan@example.com", "henry@example.com")],
        "defects": [],
    },
    "spamscope/mail_test_15": {
        "subject": "Urgent Request for Order Quotation",
        "date": "2018-02-13T16:26:00-08:00",
        "from_": [("do-not-reply@ncs.gov.ng", "purchasing@aquillaindustries.com")],
        "to": [],
        "reply_to": [("purchasing@aquiilaindustries.com", None)],
        "attachments": [("REQUEST FOR QUOTE.zip", "application/zip")],
        "snippet": "Dear Sirs/Madame You are invited to give your price",
    },
    "spamscope/mail_test_10": {
        "message_id": (
            "OF0C5D2406.A7134351-ONC12580DD.00582F46-C12580DD.005C1644@notes.na.collabserv.com"
        ),
        "from_": [("nicoletta_bernasconi@it.ibm.com", "Nicoletta Bernasconi")],
        "to": [],
        "attachments": [
            (None, "image/gif"),
            (None, "image/gif"),
            (None, "image/gif"),
            ("Move To Eight ZWEP6227F.pdf", "application/octet-stream"),
        ],
        "inline": [True, True, True, False],
        "snippet": "Gentili Business Partner, vi segnalo che oggi è stato annunciato",
    },
    "spamscope/mail_test_18": {
        "subject": "Test for Comma and Name Bugs",
        "from_": [("comma.name@example.com", "LastßlName, FirstName")],
        "to": [("tony.stark@example.com", "tony.stark@example.com")],
        "cc": [("simple@example.net", None), ("john.doe@example.com", 'John "Johnny" Doe')],
        "date": "2025-11-03T18:23:00+01:00",
    },
    "spamscope/mail_test_1": {  # Cyrillic UTF-8 encoded words, no Date header
        "subject": "письмо уведом-е",
        "from_": [("suvorov.s@nalg.ru", "служба ФНС Даниил Суворов")],
        "to": [("kinney@noth.com", None)],
        "date": "2016-08-22T14:23:01+00:00",
        "date_source": DateSource.RECEIVED,
        "defects_include": ["no Date header; using the newest Received date"],
        "attachments": [("ФНС_РФ558.zip", "application/octet-stream")],
        "snippet": "Налогоплательщик! Информируем Вас об имеющейся задолженности.",
    },
    "spamscope/mail_test_12": {  # GB2312 encoded words, raw UTF-8 address
        "subject": "代开各地增值税发票",
        "from_": [("baoguan@hotmail.com", "张先生")],
        "to": [("danglüe@email.com", None)],
        "date": "2018-05-13T12:32:22+08:00",
        "snippet": "你好！我公司可代开各类增值税发票",
    },
    "spamscope/mail_test_5": {  # ISO-8859-1 encoded words, bulk mail with inline images
        "subject": "Je prépare mon été zéro complexe !",
        "message_id": "aidmakfaofhmuoiauhu.afdakighau@unkown",
        "from_": [("contact@carlance.fr", "Marina de Carlance")],
        "bulk_signals": ("list-unsubscribe", "precedence:bulk"),
        "inline": [True, True, True, True, True],
    },
    "spamscope/mail_test_6": {  # folded Cyrillic subject, list mail
        "subject": "Быстрее вкладывайте в золото!",
        "normalized_subject": "быстрее вкладывайте в золото!",
        "from_": [("noreply@ggg.com", "Время пришло")],
        "date": "2017-07-15T12:18:41+03:00",
        "list_id": "770 capital.ggg.com",
        "bulk_signals": ("list-id", "list-unsubscribe"),
        "defects_include": ["InvalidMultipartContentTransferEncodingDefect"],
    },
    "spamscope/mail_test_2": {  # an invalid domain among valid recipients
        "subject": "Bollettino Meteorologico del 29/11/2015",
        "from_": [("meteo@regione.vda.it", None)],
        "to": [("echo@tu-berlin.de", None)],
        "defects": [
            "To: dropped '\"Porcile, M.\" <mporcile@server_mail.it>': "
            "invalid domain 'server_mail.it'"
        ],
        "attachments": [
            ("intestazione.jpg", "image/jpeg"),
            ("logometeo.jpg", "image/jpeg"),
            ("Bollettino.pdf", "application/octet-stream"),
        ],
    },
    "spamscope/mail_test_7": {
        "subject": "I: Ordine",
        "normalized_subject": "ordine",
        "in_reply_to": ("EEDDF5F5-2786-4B3F-B15A-124A9A29A8D3@agade.info",),
        "attachment_count": 8,
        "snippet": "Ciao sere mi puoi dire se il mio cliente deve fare questa dichiarazione?",
    },
    "spamscope/mail_test_13": {
        "subject": "New Webinar: So, You Have A Disaster... Now What?",
        "sender": [("info=continuityinsights.com@mail90.suw15.mcsv.net", "Continuity Insights")],
        "list_id": "3f21937f0f636c8cec1db30bf.140953.list-id.mcsv.net",
        "bulk_signals": ("list-id", "list-unsubscribe"),
    },
    "spamscope/mail_test_16": {
        "subject": "Test spam mail (GTUBE)",
        "precedence": "junk",
        "bulk_signals": ("precedence:junk",),
    },
    "spamscope/mail_malformed_1": {  # inner multipart reuses the outer boundary
        "subject": "immagine",
        "defects_include": ["StartBoundaryNotFoundDefect"],
        "snippet": "--Sent from my iPhone",
    },
    "spamscope/mail_malformed_2": {
        "subject": "Delivery failure (abh@netpar.com.br)",
        "from_": [("postmaster@netpar.com.br", None)],
        "delivery_report": True,
        "attachments": [
            ("DSN57BAC498.txt", "message/delivery-status"),
            (None, "message/rfc822-headers"),
        ],
        "bulk_signals": ("mailer-daemon", "null-return-path", "delivery-report"),
    },
    "mime4j/boundary-name-clash.msg": {
        "subject": "test",
        "date_source": DateSource.ARRIVAL,
        "text_start": "Please see attachment for report Daily_Stats-2022-05-12-0700",
        "html_contains": "<p>Please see attachment for report",
        "attachments": [("Daily_Stats-2022-05-12-0700.pdf", "application/pdf")],
    },
    "mime4j/russian-headers.msg": {  # KOI8-R encoded words in parameters
        "subject": "A simple subject",
        "attachments": [("Список.doc", "text/plain")],
        "text": None,
    },
    "mime4j/base64encoded-rfc822message.msg": {
        "subject": "a simple rfc822 message encoded in a base64 body.",
        "attachments": [("message.eml", "message/rfc822")],
        "sizes": [91],
    },
    "mime4j/simple-attachment.msg": {
        "from_": [("bar@example.com", "Foo Bar")],
        "to": [("foo@example.com", None)],
        "date": "2007-04-27T16:08:23+02:00",
        "attachments": [("data.bin", "application/octet-stream")],
        "sizes": [1024],
        "snippet": "Body.",
    },
    "mime4j/basic-plain.msg": {
        "subject": "Simple Subject",
        "cc": [("recipient1@example.com", None), ("recipient2@example.com", None)],
        "defects": ["Cc: dropped 'localrecipient': not an address"],
        "date": "1998-02-11T11:51:00-06:00",
    },
    "mime4j/obsolete.msg": {  # `Subject :` with a blank before the colon
        "subject": "The obsolete syntax allow spaces before the colon        and also empty "
        "lines in folding.",
        "date_source": DateSource.ARRIVAL,
        "defects_include": ["Date header unparseable: 'Malformed Date.'; using the arrival time"],
    },
    "mime4j/malformedHeader-noheader.msg": {
        "subject": None,
        "snippet": "This is a simple message not having headers.",
        "defects_include": ["MissingHeaderBodySeparatorDefect"],
    },
    "flanker/torture.eml": {
        "subject": "Multi-media mail demonstration",
        "message_id": "CMM.0.88.687168092.mrc@akbar.cac.washington.edu",
        "from_": [("mrc@cac.washington.edu", "Mark Crispin")],
        "date": "1993-02-06T02:53:47-08:00",
        "attachments": [
            ("Re: a MIME-Version misfeature.eml", "message/rfc822"),
            ("Re: multipart mail.eml", "message/rfc822"),
            (None, "audio/basic"),
            (None, "image/pbm"),
            ("message.eml", "message/rfc822"),
            ("A cheap digitizer test.eml", "message/rfc822"),
            ("meta-mail.eml", "message/rfc822"),
            ("An image that went gif->ppm->ps.eml", "message/rfc822"),
            (None, "image/gif"),
            ("Audio in q-p.eml", "message/rfc822"),
            ("Here's some more.eml", "message/rfc822"),
        ],
        "text_start": "This is a demonstration of multi-part mail with encapsulated messages.",
        "defects": [],
    },
    "flanker/no-ctype.eml": {
        "subject": "Testing message parsing",
        "from_": [("bob@marley.com", "Bob Marley")],
        "text": "Hello,\nI'm just testing message parsing\n\nBR,\nBob",
        "html": None,
    },
    "flanker/bounce/office365.eml": {
        "subject": "Undeliverable: test_bounce 8",
        "from_": [("postmaster@example.no", None)],
        "in_reply_to": ("20171013111011.20866.254C2F3A4D7AA526@ninomail.com",),
        "attachments": [
            (None, "message/delivery-status"),
            ("test_bounce 8.eml", "message/rfc822"),
        ],
        "delivery_report": True,
        "auto_submitted": "auto-replied",
        "bulk_signals": ("auto-submitted:auto-replied", "mailer-daemon", "delivery-report"),
    },
    "flanker/bounce/gmail-invalid-address.eml": {
        "from_": [("mailer-daemon@googlemail.com", "Mail Delivery Subsystem")],
        "delivery_report": True,
        "snippet": "Delivery to the following recipient failed permanently:",
    },
    "flanker/complaints/aol.eml": {
        "subject": "Email Feedback Report for IP 173.193.210.34",
        "attachments": [
            (None, "message/feedback-report"),
            ("exciting Repair the transmittion.eml", "message/rfc822"),
        ],
        "bulk_signals": ("precedence:list", "feedback-report"),
    },
    "flanker/disposition-notification.eml": {
        "from_": [("joe_recipient@example.com", "Joe Recipient")],
        "delivery_report": False,
        "bulk_signals": ("read-receipt",),
    },
    "flanker/mailformed-headers.eml": {  # raw 8-bit bytes cut mid-character, junk address
        "from_": [("headers@gmail.com", "Юникод запрещен\ufffd")],
        "to": [],
        "subject": "´!",
        "defects_include": [
            "To: dropped '´google@example.com': undecodable 8-bit address",
            "StartBoundaryNotFoundDefect",
        ],
    },
    "flanker/russian-attachment-yahoo.eml": {
        "attachment_names_start": ["Картинка с очень, очень длинным предлинным именем"],
        "defects_include": ["FirstHeaderLineIsContinuationDefect"],
    },
    "flanker/enclosed.eml": {
        "to": [("bob@example.com", "Александр Клижентас☯")],
        "attachments": [("thanks.eml", "message/rfc822")],
        "snippet": "Hello",
    },
    "flanker/from-encoding.eml": {
        "from_": [("ingo@blank.pages.de", "Ingo Lütkebohle")],
        "normalized_subject": "running server as root (was: re: put method)",
        "references": ("Pine.BSF.3.95q.970712135859.28530B-100000@valis.worldgate.com",),
        "bulk_signals": ("precedence:bulk",),
    },
    "flanker/long-header.eml": {
        "subject_start": "Die heiße Zypernsonne quälte Max und Victoria ja böse auf dem Weg bis "
        "zur KüsteDie heiße",
    },
    "flanker/missing-final-boundary.eml": {
        "to": [("bob@example.com", None), ("hithere@example.com", None)],
        "defects_include": ["CloseBoundaryNotFoundDefect"],
        "snippet": "Some body",
    },
}


def check_expected(envelope: Envelope, expected: dict[str, Any]) -> None:
    """Compare the fields named in `expected`; the `_start`/`_include` keys check partially."""
    for key, value in expected.items():
        if key in ("from_", "sender", "reply_to", "to", "cc", "bcc"):
            found = [(a.address, a.name) for a in getattr(envelope, key)]
            assert found == value, key
        elif key == "date":
            assert envelope.date.isoformat() == value
        elif key == "attachments":
            assert [(a.filename, a.content_type) for a in envelope.attachments] == value
        elif key == "attachment_count":
            assert len(envelope.attachments) == value
        elif key == "attachment_names_start":
            for attachment, start in zip(envelope.attachments, value, strict=True):
                assert (attachment.filename or "").startswith(start)
        elif key == "inline":
            assert [a.inline for a in envelope.attachments] == value
        elif key == "sizes":
            assert [a.size for a in envelope.attachments] == value
        elif key == "defects":
            assert list(envelope.defects) == value
        elif key == "defects_include":
            assert set(value) <= set(envelope.defects)
        elif key in ("snippet", "text_start", "subject_start"):
            field = {"snippet": "snippet", "text_start": "text", "subject_start": "subject"}[key]
            assert (getattr(envelope, field) or "").startswith(value), key
        elif key == "html_contains":
            assert value in (envelope.html or "")
        else:
            assert getattr(envelope, key) == value, key


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_values(name: str) -> None:
    check_expected(read(name), EXPECTED[name])


def test_sample_covers_all_three_corpora() -> None:
    assert {name.split("/")[0] for name in EXPECTED} == {"flanker", "mime4j", "spamscope"}
    assert len(EXPECTED) >= 20


# --- CPython's messages -----------------------------------------------------------------------


def cpython(name: str) -> Envelope:
    path = CPYTHON_DATA / name
    assert path.is_file(), f"CPython test message {path} is missing"
    return normalize(path.read_bytes(), arrival=ARRIVAL)


def test_cpython_digest_messages_are_attachments() -> None:
    envelope = cpython("msg_02.txt")
    assert envelope.subject == "Ppp digest, Vol 1 #2 - 5 msgs"
    assert [a.filename for a in envelope.attachments] == [
        "[Ppp] testing #1.eml",
        "message.eml",
        "[Ppp] testing #3.eml",
        "[Ppp] testing #4.eml",
        "[Ppp] testing #5.eml",
    ]


def test_cpython_null_sender_is_not_an_address() -> None:
    envelope = cpython("msg_43.txt")
    assert envelope.from_ == ()
    assert "From: dropped 'MAILER DAEMON <>': empty angle-addr" in envelope.defects
    assert envelope.delivery_report


def test_a_message_read_for_forwarding_reads_as_it_normalizes() -> None:
    """Mail to the forwarding gateway is parsed once to look for a forwarded original; when
    none is found that parse is normalized, not the bytes again. The unwrapping must not have
    changed what the parse says: each corpus message reads as `normalize` reads it, plus what
    unwrapping had to say."""
    compared = 0
    for path in corpus_messages() + cpython_messages():
        data = path.read_bytes()
        reading = read_message(data, ARRIVAL, Limits(), unwrap=True)
        if reading.forwarded:
            continue
        fresh = normalize(data, arrival=ARRIVAL)
        assert reading.envelope.defects[: len(fresh.defects)] == fresh.defects, path
        assert replace(reading.envelope, defects=fresh.defects) == fresh, path
        compared += 1
    assert compared > 150
