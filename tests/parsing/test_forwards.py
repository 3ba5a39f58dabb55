"""unwrap_forward: forwards as each client writes them, in several languages, and hostile input.

Fixtures in tests/fixtures/forwards are whole messages with each client's MIME structure. Every
recovered original is checked the way ingest will read it: through `normalize`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailroom.envelope import Address, DateSource, Envelope
from mailroom.parsing.forwards.unwrap import ForwardKind, Unwrapped, unwrap_forward
from mailroom.parsing.normalize import normalize

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "forwards"
CET = timezone(timedelta(hours=1))
EST = timezone(timedelta(hours=-5))
PST = timezone(timedelta(hours=-8))


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def recovered(unwrapped: Unwrapped) -> Envelope:
    assert unwrapped.original is not None, unwrapped.defects
    return normalize(unwrapped.original, arrival=datetime(2026, 3, 5, tzinfo=UTC))


def addresses(items: tuple[Address, ...]) -> list[str]:
    return [item.address for item in items]


@dataclass(frozen=True)
class Inline:
    fixture: str
    client: str
    sender: tuple[str, str | None]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: datetime
    body_start: str
    zone_guessed: bool = True  # the block's date had no zone: the forwarder's was assumed


INLINE = [
    Inline(
        "gmail_en.eml",
        "gmail",
        ("jane.doe@globex.com", "Jane Doe"),
        ("alice@acme.com",),
        ("carl@globex.com", "dana@initech.io"),
        "Q3 budget review",
        datetime(2026, 3, 3, 10, 15, tzinfo=PST),
        "Hi Alice,\n\nAttached is the revised Q3 budget.",
    ),
    Inline(
        "gmail_de.eml",
        "gmail",
        ("juergen.mueller@beispiel.de", "Jürgen Müller"),
        ("alice@acme.com",),
        ("petra.schmidt@beispiel.de",),
        "Angebot Wartungsvertrag 2026",
        datetime(2026, 3, 3, 10, 15, tzinfo=CET),
        "Sehr geehrte Frau Martin,\n\nanbei erhalten Sie unser Angebot für",
    ),
    Inline(
        "gmail_fr.eml",
        "gmail",
        ("claire.dubois@exemple.fr", "Claire Dubois"),
        ("alice@acme.com",),
        (),
        "Devis n° 4521",
        datetime(2026, 3, 3, 10, 15, tzinfo=CET),
        "Bonjour Alice,\n\nVeuillez trouver ci-joint",
    ),
    Inline(
        "gmail_quoted.eml",
        "gmail",
        ("jane.doe@globex.com", "Jane Doe"),
        ("bob@acme.com",),
        (),
        "Site visit",
        datetime(2026, 3, 3, 10, 15, tzinfo=EST),
        "Hi Bob,\n\nThe site visit is moved to the 9th.\n> Can you confirm the 6th?",
    ),
    Inline(
        "outlook_en.eml",
        "outlook",
        ("jane.doe@globex.com", "Jane Doe"),
        ("alice@acme.com", "bob@acme.com"),
        ("carl@globex.com",),
        "Contract renewal - Globex",
        datetime(2026, 3, 3, 10, 15, tzinfo=CET),
        "Hi Alice, Bob,\n\nOur contract is up for renewal on April 1.",
    ),
    Inline(
        "outlook_mailto_en.eml",
        "outlook",
        ("jane.doe@globex.com", "Jane Doe"),
        ("bob@acme.com",),  # `Alice Martin` alone is no address
        ("carl@globex.com",),
        "Site survey dates",
        datetime(2026, 3, 3, 10, 15, tzinfo=EST),
        "Alice,\n\nThe surveyors can come on the 10th",
    ),
    Inline(
        "outlook_de.eml",
        "outlook",
        ("petra.schmidt@beispiel.de", "Schmidt, Petra"),
        ("alice@acme.com",),
        ("juergen.mueller@beispiel.de",),
        "Lieferung KW 11",
        datetime(2026, 3, 3, 10, 15, tzinfo=CET),
        "Hallo Frau Martin,\n\ndie Lieferung kommt am Donnerstag",
    ),
    Inline(
        "outlook_fr.eml",
        "outlook",
        ("claire.dubois@exemple.fr", "Claire Dubois"),
        ("alice@acme.com",),
        ("marc.leroy@exemple.fr",),
        "Devis n° 4521",
        datetime(2026, 3, 3, 10, 15, tzinfo=CET),
        "Bonjour Alice,\n\nVeuillez trouver ci-joint notre devis n° 4521, valable 30 jours.",
    ),
    Inline(
        "outlook_es.eml",
        "outlook",
        ("lucia.fernandez@ejemplo.es", "Lucía Fernández"),
        ("alice@acme.com",),
        ("javier.ruiz@ejemplo.es",),
        "Presupuesto 2026",
        datetime(2026, 3, 3, 10, 15, tzinfo=CET),
        "Hola Alice:\n\nTe adjunto el presupuesto para 2026.",
    ),
    Inline(
        "outlook_web_en.eml",
        "outlook-web",
        ("jane.doe@globex.com", "Jane Doe"),
        ("alice@acme.com",),
        ("carl@globex.com", "dana@initech.io"),
        "Pilot kickoff",
        datetime(2026, 3, 3, 10, 15, tzinfo=UTC),  # Exchange Online stamps +0000
        "Hi Alice,\n\nKickoff for the pilot is confirmed for March 16.",
    ),
    Inline(
        "outlook_web_html_only.eml",
        "outlook-web",
        ("jane.doe@globex.com", "Jane Doe"),
        ("alice@acme.com",),
        ("carl@globex.com", "dana@initech.io"),
        "Pilot kickoff",
        datetime(2026, 3, 3, 10, 15, tzinfo=UTC),
        "Hi Alice,\n\nKickoff for the pilot is confirmed for March 16.",
    ),
    Inline(
        "apple_mail_en.eml",
        "apple-mail",
        ("jane.doe@globex.com", "Jane Doe"),
        ("alice@acme.com",),
        ("carl@globex.com",),
        "Dinner on Friday",
        datetime(2026, 3, 3, 10, 15, tzinfo=CET),
        "Hi Alice,\n\nAre we still on for dinner on Friday?",
        zone_guessed=False,
    ),
    Inline(
        "apple_mail_de.eml",
        "apple-mail",
        ("petra.schmidt@beispiel.de", "Petra Schmidt"),
        ("alice@acme.com",),
        (),
        "Termin Werksabnahme",
        datetime(2026, 3, 3, 10, 15, tzinfo=CET),  # `MEZ`
        "Hallo Alice,\n\ndie Werksabnahme ist am 12. März um 9 Uhr.",
        zone_guessed=False,
    ),
    Inline(
        "thunderbird_en.eml",
        "thunderbird",
        ("jane.doe@globex.com", "Jane Doe"),
        ("alice@acme.com",),
        ("carl@globex.com",),
        "Invoice 2026-031",
        datetime(2026, 3, 3, 10, 15, tzinfo=EST),
        "Hello Alice,\n\nplease find invoice 2026-031 attached",
        zone_guessed=False,
    ),
    Inline(
        "thunderbird_fr_html_only.eml",
        "thunderbird",
        ("claire.dubois@exemple.fr", "Claire Dubois"),
        ("alice@acme.com",),
        ("marc.leroy@exemple.fr", "compta@exemple.fr"),
        "Relance facture 2026-017",
        datetime(2026, 3, 3, 10, 15, tzinfo=CET),
        "Bonjour Alice,\n\nSauf erreur de notre part",
        zone_guessed=False,
    ),
    Inline(
        "thunderbird_de_full_headers.eml",
        "thunderbird",
        ("juergen.mueller@beispiel.de", "Jürgen Müller"),
        ("alice@acme.com",),
        ("petra.schmidt@beispiel.de", "einkauf@beispiel.de"),  # wrapped by format=flowed
        "Rahmenvertrag",
        datetime(2026, 3, 3, 10, 15, tzinfo=CET),
        "Hallo Alice,\n\nanbei der unterschriebene Rahmenvertrag.",
        zone_guessed=False,
    ),
]


@pytest.mark.parametrize("case", INLINE, ids=lambda case: case.fixture)
def test_inline_forward_recovers_the_original(case: Inline) -> None:
    unwrapped = unwrap_forward(load(case.fixture))

    assert (unwrapped.kind, unwrapped.client) == (ForwardKind.INLINE, case.client)
    envelope = recovered(unwrapped)
    assert [(a.address, a.name) for a in envelope.from_] == [case.sender]
    assert addresses(envelope.to) == list(case.to)
    assert addresses(envelope.cc) == list(case.cc)
    assert envelope.subject == case.subject
    assert envelope.date_source is DateSource.HEADER
    assert envelope.date == case.date
    assert envelope.date.utcoffset() == case.date.utcoffset()
    assert (envelope.text or "").startswith(case.body_start), envelope.text
    guessed = [d for d in unwrapped.defects if "no time zone" in d]
    assert bool(guessed) == case.zone_guessed, unwrapped.defects


@pytest.mark.parametrize("case", INLINE, ids=lambda case: case.fixture)
def test_inline_original_is_well_formed_and_marked(case: Inline) -> None:
    original = unwrap_forward(load(case.fixture)).original
    assert original is not None

    parsed = message_from_bytes(original, policy=policy.default)
    assert parsed["X-Mailroom-Unwrapped"] == f"inline; client={case.client}"
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    assert not parsed.defects
    lines = original.split(b"\r\n")
    assert all(len(line) <= 78 and b"\n" not in line for line in lines)
    assert original.isascii()  # seven-bit: encoded words and quoted-printable
    assert normalize(original).defects == ()


@pytest.mark.parametrize(
    "fixture",
    [
        "gmail_en.eml",
        "gmail_de.eml",
        "outlook_en.eml",
        "outlook_web_en.eml",
        "apple_mail_en.eml",
        "thunderbird_en.eml",
    ],
)
def test_html_alternative_alone_gives_the_same_original(fixture: str) -> None:
    raw = load(fixture)
    html_only = without_plain_text(raw)

    from_plain, from_html = unwrap_forward(raw), unwrap_forward(html_only)
    assert (from_html.kind, from_html.client) == (ForwardKind.INLINE, from_plain.client)
    plain, html = recovered(from_plain), recovered(from_html)
    assert (html.from_, html.to, html.cc) == (plain.from_, plain.to, plain.cc)
    assert (html.subject, html.date) == (plain.subject, plain.date)
    first_line = (plain.text or "").partition("\n")[0]
    assert (html.text or "").startswith(first_line + "\n")


def test_inline_forward_leaves_out_what_the_block_does_not_show() -> None:
    envelope = recovered(unwrap_forward(load("gmail_en.eml")))

    assert envelope.message_id is None
    assert envelope.in_reply_to == () and envelope.references == ()
    assert "FYI, logging this one" not in (envelope.text or "")  # the forwarder's note


def test_message_id_and_reply_to_are_kept_when_the_block_shows_them() -> None:
    unwrapped = unwrap_forward(load("thunderbird_de_full_headers.eml"))

    envelope = recovered(unwrapped)
    assert envelope.message_id == "b7c8d9e0-f1a2-4b3c-9d4e-5f6a7b8c9d0e@beispiel.de"
    assert addresses(envelope.reply_to) == ["vertrieb@beispiel.de"]
    assert unwrapped.defects == ()


def test_outlook_recipients_without_address_are_dropped_with_a_defect() -> None:
    unwrapped = unwrap_forward(load("outlook_mailto_en.eml"))

    assert "forwarded To: dropped 'Alice Martin': not an address" in unwrapped.defects


def test_quoted_block_loses_exactly_one_level_of_quoting() -> None:
    text = recovered(unwrap_forward(load("gmail_quoted.eml"))).text or ""

    assert "> Can you confirm the 6th?\n> (your earlier question)\n\nJane" in text
    assert ">>" not in text and "> >" not in text


def test_forwarded_text_is_kept_whole_past_the_scanned_prefix() -> None:
    long_body = "".join(f"Line {n} of the forwarded text.\n" for n in range(6000))
    raw = gmail_style(date_line="Tue, Mar 3, 2026 at 10:15 AM", body=long_body)

    text = recovered(unwrap_forward(raw)).text or ""
    assert len(long_body) > 64 * 1024
    assert text.rstrip("\n").endswith("Line 5999 of the forwarded text.")


@pytest.mark.parametrize(
    ("from_line", "to_line", "sender", "recipients"),
    [
        (  # Exchange's plain text keeps links as `addr<mailto:addr>`
            "From: Jane Doe <jane.doe@globex.com<mailto:jane.doe@globex.com>>",
            "To: alice@acme.com<mailto:alice@acme.com>; Bob <bob@acme.com<mailto:bob@acme.com>>",
            ("jane.doe@globex.com", "Jane Doe"),
            [("alice@acme.com", None), ("bob@acme.com", "Bob")],
        ),
        (  # Outlook's quoted names, and HTML bold turned to asterisks
            "*From:* *Jane Doe* <jane.doe@globex.com>",
            "*To:* 'Alice Martin' <alice@acme.com>; 'bob@acme.com'",
            ("jane.doe@globex.com", "Jane Doe"),
            [("alice@acme.com", "Alice Martin"), ("bob@acme.com", None)],
        ),
        (
            "From: jane.doe@globex.com",
            'To: "Martin, Alice" <alice@acme.com>, Doe, John <john@acme.com>',
            ("jane.doe@globex.com", None),
            [("alice@acme.com", "Martin, Alice"), ("john@acme.com", "Doe, John")],
        ),
    ],
)
def test_client_address_shapes(
    from_line: str,
    to_line: str,
    sender: tuple[str, str | None],
    recipients: list[tuple[str, str | None]],
) -> None:
    envelope = recovered(unwrap_forward(gmail_style(from_line=from_line, to_line=to_line)))

    assert [(a.address, a.name) for a in envelope.from_] == [sender]
    assert [(a.address, a.name) for a in envelope.to] == recipients


# --- attached originals -----------------------------------------------------------------


def test_attached_original_is_kept_byte_for_byte() -> None:
    raw = load("attached_outlook.eml")
    start = raw.index(b"Received: from mail-sor-f41.google.com")
    end = raw.index(b"\n--_004_AM9PR07MB7123111122223333AM9PR07MB7123eurp_--")

    unwrapped = unwrap_forward(raw)
    assert (unwrapped.kind, unwrapped.client) == (ForwardKind.ATTACHED, "attached")
    assert unwrapped.original == raw[start:end]
    assert unwrapped.defects == ()
    envelope = recovered(unwrapped)
    assert envelope.message_id == "CAJx7Rm2QpZ8vN4kW1sT@mail.gmail.com"
    assert [(a.address, a.name) for a in envelope.from_] == [("jane.doe@globex.com", "Jane Doe")]
    assert envelope.date == datetime(2026, 3, 3, 10, 15, tzinfo=CET)


def test_attached_original_keeps_crlf_line_endings() -> None:
    raw = load("attached_outlook.eml").replace(b"\n", b"\r\n")
    start = raw.index(b"Received: from mail-sor-f41.google.com")
    end = raw.index(b"\r\n--_004_AM9PR07MB7123111122223333AM9PR07MB7123eurp_--")

    assert unwrap_forward(raw).original == raw[start:end]


def test_first_of_several_attached_messages_is_taken() -> None:
    unwrapped = unwrap_forward(load("attached_thunderbird_two.eml"))

    assert unwrapped.kind is ForwardKind.ATTACHED
    assert unwrapped.defects == ("2 messages are attached; the first was taken",)
    assert recovered(unwrapped).message_id == "kickoff-agenda-1@initech.io"


def test_base64_encoded_attached_message_is_decoded() -> None:
    inner = b"From: Dana Wu <dana@initech.io>\r\nSubject: Scope\r\nMessage-ID: <s1@initech.io>\r\n"
    inner += b"Date: Mon, 2 Mar 2026 16:00:00 -0800\r\n\r\nScope attached.\r\n"
    wrapper = forward_wrapper("Fwd: Scope", "See attached.")
    wrapper.add_attachment(inner, maintype="message", subtype="rfc822", cte="base64")

    unwrapped = unwrap_forward(wrapper.as_bytes())
    assert (unwrapped.kind, unwrapped.original) == (ForwardKind.ATTACHED, inner)


def test_attached_message_without_forward_signal_is_not_a_forward() -> None:
    wrapper = forward_wrapper("Contract draft", "Here is the draft, and the thread it came from.")
    wrapper.add_attachment(
        message_from_bytes(b"From: jane.doe@globex.com\nSubject: Old thread\n\nOld.\n"),
    )

    unwrapped = unwrap_forward(wrapper.as_bytes())
    assert unwrapped.kind is ForwardKind.NOT_FORWARD
    assert unwrapped.defects == (
        "an attached message was not taken for a forward: nothing says forward",
    )


def test_attached_message_with_the_same_subject_is_a_forward() -> None:
    wrapper = forward_wrapper("Old thread", "Logging this.")
    wrapper.add_attachment(
        message_from_bytes(b"From: jane.doe@globex.com\nSubject: Old thread\n\nOld.\n"),
    )

    assert unwrap_forward(wrapper.as_bytes()).kind is ForwardKind.ATTACHED


def test_delivery_report_is_not_a_forward() -> None:
    report = forward_wrapper("Undelivered Mail Returned to Sender", "The mail could not go.")
    report.add_attachment(message_from_bytes(b"From: alice@acme.com\nSubject: Hi\n\nHi.\n"))
    report.replace_header(
        "Content-Type", 'multipart/report; report-type=delivery-status; boundary="b"'
    )

    assert unwrap_forward(report.as_bytes()).kind is ForwardKind.NOT_FORWARD


@pytest.mark.parametrize("fixture", ["gmail_en.eml", "outlook_en.eml"])
def test_inline_forward_wins_over_mail_attached_to_the_original(fixture: str) -> None:
    wrapper = message_from_bytes(load(fixture), policy=policy.default)
    assert isinstance(wrapper, EmailMessage)
    wrapper.add_attachment(
        message_from_bytes(b"From: carl@globex.com\nSubject: Thread\n\nOld.\n"),
    )

    unwrapped = unwrap_forward(wrapper.as_bytes())
    assert unwrapped.kind is ForwardKind.INLINE
    assert addresses(recovered(unwrapped).from_) == ["jane.doe@globex.com"]


# --- not forwards, and forwards that cannot be recovered --------------------------------


@pytest.mark.parametrize(
    "fixture",
    ["plain.eml", "gmail_reply.eml", "outlook_reply.eml", "reply_quoting_forward.eml"],
)
def test_messages_that_are_not_forwards(fixture: str) -> None:
    assert unwrap_forward(load(fixture)) == Unwrapped(ForwardKind.NOT_FORWARD)


def test_outlook_sender_without_address_is_unrecoverable() -> None:
    unwrapped = unwrap_forward(load("outlook_no_address.eml"))

    assert (unwrapped.kind, unwrapped.original) == (ForwardKind.UNRECOVERABLE, None)
    assert unwrapped.defects == (
        "forwarded From shows no address ('Jane Doe'): the original sender cannot be known",
    )


def test_forward_subject_without_anything_to_recover_is_unrecoverable() -> None:
    unwrapped = unwrap_forward(load("fwd_without_block.eml"))

    assert (unwrapped.kind, unwrapped.original) == (ForwardKind.UNRECOVERABLE, None)
    assert unwrapped.defects == (
        "the subject says forward but no quoted header block or attached message was found",
    )


def test_forward_separator_without_header_block_is_unrecoverable() -> None:
    raw = forward_wrapper(
        "Budget", "FYI\n\n---------- Forwarded message ---------\nHi Alice, here it is.\n"
    ).as_bytes()

    unwrapped = unwrap_forward(raw)
    assert unwrapped.kind is ForwardKind.UNRECOVERABLE
    assert unwrapped.defects == (
        "a forward separator was found but no quoted header block with a From follows it",
    )


def test_forward_quoted_like_a_reply_is_unrecoverable() -> None:
    body = "FYI\n\nOn Tue, Mar 3, 2026 at 10:15 AM Jane Doe <jane.doe@globex.com> wrote:\n> Hi\n"

    unwrapped = unwrap_forward(forward_wrapper("Fwd: Budget", body).as_bytes())
    assert unwrapped.kind is ForwardKind.UNRECOVERABLE
    assert "quoted as in a reply" in unwrapped.defects[0]


def test_separator_past_the_scanned_prefix_is_not_read() -> None:
    note = "A very long note.\n" * 4000
    raw = gmail_style(date_line="Tue, Mar 3, 2026 at 10:15 AM", body="Hi", note=note)

    assert unwrap_forward(raw).kind is ForwardKind.UNRECOVERABLE


@pytest.mark.parametrize(
    ("subject", "kind"),
    [
        ("Fwd: Budget", ForwardKind.UNRECOVERABLE),
        ("FW: Budget", ForwardKind.UNRECOVERABLE),
        ("Fw: Budget", ForwardKind.UNRECOVERABLE),
        ("WG: Budget", ForwardKind.UNRECOVERABLE),
        ("TR: Budget", ForwardKind.UNRECOVERABLE),
        ("RV: Budget", ForwardKind.UNRECOVERABLE),
        ("Doorst: Budget", ForwardKind.UNRECOVERABLE),
        ("VS: Budget", ForwardKind.UNRECOVERABLE),
        ("ENC: Budget", ForwardKind.UNRECOVERABLE),
        ("I: Budget", ForwardKind.UNRECOVERABLE),
        ("İLT: Budget", ForwardKind.UNRECOVERABLE),
        ("转发: Budget", ForwardKind.UNRECOVERABLE),
        ("[team] Fwd: Budget", ForwardKind.UNRECOVERABLE),
        ("[Fwd: Budget]", ForwardKind.UNRECOVERABLE),
        ("Fwd[2]: Budget", ForwardKind.UNRECOVERABLE),
        ("Fwd: Re: Budget", ForwardKind.UNRECOVERABLE),
        ("Re: Fwd: Budget", ForwardKind.NOT_FORWARD),
        ("AW: WG: Budget", ForwardKind.NOT_FORWARD),
        ("Budget: Q3", ForwardKind.NOT_FORWARD),
        ("Forward planning", ForwardKind.NOT_FORWARD),
        ("", ForwardKind.NOT_FORWARD),
    ],
)
def test_subject_prefixes(subject: str, kind: ForwardKind) -> None:
    raw = forward_wrapper(subject, "Just a note, nothing quoted.").as_bytes()

    assert unwrap_forward(raw).kind is kind


def test_reply_to_a_forward_is_the_members_own_message() -> None:
    raw = gmail_style(date_line="Tue, Mar 3, 2026 at 10:15 AM", subject="Re: Fwd: Budget")

    assert unwrap_forward(raw).kind is ForwardKind.NOT_FORWARD


# --- dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date_line", "expected"),
    [
        ("Tue, Mar 3, 2026 at 10:15 AM", datetime(2026, 3, 3, 10, 15, tzinfo=PST)),
        ("Tuesday, March 3, 2026 10:15 AM", datetime(2026, 3, 3, 10, 15, tzinfo=PST)),
        ("3 March 2026 at 10:15:00 CET", datetime(2026, 3, 3, 10, 15, tzinfo=CET)),
        ("March 3, 2026 at 10:15:00\u202fAM EST", datetime(2026, 3, 3, 10, 15, tzinfo=EST)),
        ("3 March 2026 at 10:15:00 GMT+1", datetime(2026, 3, 3, 10, 15, tzinfo=CET)),
        ("Tue, 3 Mar 2026 10:15:00 +0100 (CET)", datetime(2026, 3, 3, 10, 15, tzinfo=CET)),
        ("Di., 3. März 2026 um 10:15 Uhr", datetime(2026, 3, 3, 10, 15, tzinfo=PST)),
        ("mar. 3 mars 2026 à 10:15", datetime(2026, 3, 3, 10, 15, tzinfo=PST)),
        ("martes, 3 de marzo de 2026 10:15", datetime(2026, 3, 3, 10, 15, tzinfo=PST)),
        ("dinsdag 3 maart 2026 10:15", datetime(2026, 3, 3, 10, 15, tzinfo=PST)),
    ],
)
def test_forwarded_dates_in_client_formats(date_line: str, expected: datetime) -> None:
    envelope = recovered(unwrap_forward(gmail_style(date_line=date_line)))

    assert envelope.date_source is DateSource.HEADER
    assert envelope.date == expected


def test_date_without_zone_and_no_forwarder_date_is_taken_as_utc() -> None:
    raw = gmail_style(date_line="Tue, Mar 3, 2026 at 10:15 AM", forwarder_date=None)

    unwrapped = unwrap_forward(raw)
    assert recovered(unwrapped).date == datetime(2026, 3, 3, 10, 15, tzinfo=UTC)
    assert "forwarded date has no time zone; assumed UTC" in unwrapped.defects


def test_unreadable_date_is_left_out() -> None:
    unwrapped = unwrap_forward(gmail_style(date_line="sometime last week"))

    assert unwrapped.kind is ForwardKind.INLINE
    assert "forwarded date unreadable: 'sometime last week'; Date left out" in unwrapped.defects
    envelope = recovered(unwrapped)
    assert envelope.date_source is not DateSource.HEADER
    assert [a.address for a in envelope.from_] == ["jane.doe@globex.com"]


def test_dates_never_ask_for_the_machines_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    def local_zone() -> None:
        raise AssertionError("the machine's time zone was read")

    monkeypatch.setattr("dateparser.utils.get_localzone", local_zone)
    for date_line in ("Tue, Mar 3, 2026 at 10:15 AM", "3 March 2026 at 10:15:00 CET"):
        unwrapped = unwrap_forward(gmail_style(date_line=date_line))
        assert not any("unreadable" in defect for defect in unwrapped.defects)


# --- more clients and languages, built from their labels ----------------------------


@pytest.mark.parametrize(
    ("subject", "block", "client"),
    [
        (
            "Doorst: Offerte",
            "-----Oorspronkelijk bericht-----\nVan: Jan de Vries <jan@voorbeeld.nl>\n"
            "Verzonden: dinsdag 3 maart 2026 10:15\nAan: Alice Martin <alice@acme.com>\n"
            "Onderwerp: Offerte\n",
            "outlook",
        ),
        (
            "I: Offerta",
            "-----Messaggio originale-----\nDa: Luca Rossi <luca@esempio.it>\n"
            "Inviato: martedì 3 marzo 2026 10:15\nA: Alice Martin <alice@acme.com>\n"
            "Oggetto: Offerta\n",
            "outlook",
        ),
        (
            "Fwd: Proposta",
            "Início da mensagem encaminhada:\n\nDe: Ana Costa <ana@exemplo.pt>\n"
            "Assunto: Proposta\nData: 3 de março de 2026 10:15:00 CET\n"
            "Para: Alice Martin <alice@acme.com>\n",
            "apple-mail",
        ),
        (
            "Fwd: Oferta",
            "-------- Mensaje reenviado --------\nAsunto: \tOferta\n"
            "Fecha: \tTue, 3 Mar 2026 10:15:00 +0100\nDe: \tLucía <lucia@ejemplo.es>\n"
            "Para: \tAlice Martin <alice@acme.com>\n",
            "thunderbird",
        ),
        (
            "Fwd: Offer",
            "----- Forwarded Message -----\nFrom: Jane Doe <jane.doe@globex.com>\n"
            "To: Alice Martin <alice@acme.com>\n"
            "Sent: Tuesday, March 3, 2026, 10:15:00 AM GMT+1\nSubject: Offer\n",
            "yahoo",
        ),
    ],
)
def test_more_clients_and_languages(subject: str, block: str, client: str) -> None:
    raw = forward_wrapper(
        subject, f"FYI\n\n{block}\nThe forwarded text.\n", zone="+0100"
    ).as_bytes()

    unwrapped = unwrap_forward(raw)
    assert (unwrapped.kind, unwrapped.client) == (ForwardKind.INLINE, client)
    envelope = recovered(unwrapped)
    assert addresses(envelope.to) == ["alice@acme.com"]
    assert envelope.subject == subject.partition(": ")[2]
    assert envelope.date == datetime(2026, 3, 3, 10, 15, tzinfo=CET)
    assert envelope.text == "The forwarded text.\n"


# --- hostile input ------------------------------------------------------------------------

PROPERTY = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SEEDS = [load(path.name) for path in sorted(FIXTURES.glob("*.eml"))]
SPECIALS = [
    b"\r\n",
    b"\n\n",
    b"> ",
    b"---------- Forwarded message ---------\n",
    b"Begin forwarded message:\n",
    b"From: Jane <j@x.org>\n",
    b"Date: Tue, Mar 3, 2026 at 10:15 AM\n",
    b"Subject: Fwd:\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"--_004_",
    b"\xff\xfe",
    b"\x00",
    b"[mailto:",
]


def check(unwrapped: Unwrapped) -> None:
    assert isinstance(unwrapped.kind, ForwardKind)
    assert not any(defect.startswith("unwrapping failed") for defect in unwrapped.defects)
    recovers = unwrapped.kind in (ForwardKind.ATTACHED, ForwardKind.INLINE)
    assert (unwrapped.original is not None) == recovers
    if unwrapped.kind is ForwardKind.INLINE:
        assert recovered(unwrapped).from_


@PROPERTY
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_break_unwrapping(data: bytes) -> None:
    check(unwrap_forward(data))


@st.composite
def mutated_forwards(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
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
@given(mutated_forwards())
def test_mutated_forwards_never_break_unwrapping(data: bytes) -> None:
    check(unwrap_forward(data))


@pytest.mark.parametrize(
    "body",
    [
        "-" * 300_000,
        ">" * 300_000,
        "> " * 150_000 + "\n---------- Forwarded message ---------\n",
        "From: Jane <j@x.org>\n" * 20_000,
        "---------- Forwarded message ---------\n" + "From: a@b.org, " * 30_000 + "\n",
        "---------- Forwarded message ---------\nDate: " + "1" * 100_000 + "\n",
        ("On 3 Mar wrote: " * 20_000) + "\n",
    ],
    ids=["dashes", "quotes", "deep-quote", "from-lines", "long-from", "long-date", "wrote"],
)
def test_hostile_bodies_are_cheap(body: str) -> None:
    raw = forward_wrapper("Fwd: x", body).as_bytes()

    started = time.process_time()  # CPU time: a busy machine deschedules, it does not slow
    check(unwrap_forward(raw))
    assert time.process_time() - started < 3  # linear scans: well under


# --- builders -----------------------------------------------------------------------------


def forward_wrapper(subject: str, body: str, zone: str = "-0800") -> EmailMessage:
    """A forward as a member's client sends it: the member's headers around `body`."""
    message = EmailMessage()
    message["From"] = "Alice Martin <alice@acme.com>"
    message["To"] = "crm@acme.mailroom.example"
    message["Subject"] = subject
    message["Date"] = f"Wed, 4 Mar 2026 09:02:11 {zone}"
    message["Message-ID"] = "<wrapper@acme.com>"
    message.set_content(body)
    return message


def without_plain_text(raw: bytes) -> bytes:
    """The same forward as an HTML-only client would send it."""
    original = message_from_bytes(raw, policy=policy.default)
    assert isinstance(original, EmailMessage)
    html = original.get_body(("html",))
    assert html is not None
    message = EmailMessage()
    for name in ("From", "To", "Subject", "Date"):
        message[name] = original[name]
    message.set_content(html.get_content(), subtype="html")
    return message.as_bytes()


def gmail_style(
    *,
    from_line: str = "From: Jane Doe <jane.doe@globex.com>",
    to_line: str = "To: Alice Martin <alice@acme.com>",
    date_line: str = "Tue, Mar 3, 2026 at 10:15 AM",
    body: str = "Hi Alice,\n\nsee below.\n",
    subject: str = "Fwd: Budget",
    note: str = "FYI\n",
    forwarder_date: str | None = "Wed, 4 Mar 2026 09:02:11 -0800",
) -> bytes:
    text = (
        f"{note}\n---------- Forwarded message ---------\n"
        f"{from_line}\nDate: {date_line}\nSubject: Budget\n{to_line}\n\n\n{body}"
    )
    message = forward_wrapper(subject, text)
    del message["Date"]
    if forwarder_date is not None:
        message["Date"] = forwarder_date
    return message.as_bytes()
