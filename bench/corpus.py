"""A seeded synthetic mailbox that looks like a real team's mail.

Eight members at one company write to and hear from a few thousand contacts at a few hundred
companies (a fifth of them on free-mail providers); a few contacts account for most of the
mail, as in real inboxes. Messages are plain text, text and HTML alternatives, mail with
attachments, newsletters and calendar invitations, about half of them replies in threads,
with the relay headers real mail carries.
"""

from __future__ import annotations

import base64
import mailbox
import quopri
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

MEMBERS = ["alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi"]
TEAM_DOMAIN = "acme-corp.com"
FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "gmx.de"]
FIRST = "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Susan \
Richard Jessica Joseph Sarah Thomas Karen Charles Lisa Sofia Lukas Emma Mateo Chloé Søren \
Zoë Jürgen Aiko Wei Priya Olumide".split()
LAST = "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez \
Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Müller Schmidt Rossi Dubois \
Nakamura Chen Patel Okafor Novak Kowalski".split()
WORDS = "the plan budget review meeting contract proposal launch quarter revenue design team \
update schedule call notes draft final approval customer support pricing roadmap hiring \
invoice report migration security feedback timeline deliverables kickoff renewal".split()


class Contact:
    __slots__ = ("name", "address")

    def __init__(self, name: str, address: str) -> None:
        self.name, self.address = name, address

    def header(self) -> str:
        return (
            f'"{self.name}" <{self.address}>'
            if "," in self.name
            else f"{self.name} <{self.address}>"
        )


@dataclass(frozen=True, slots=True)
class Population:
    """Who the team writes with: how many contacts at how many companies, and how unevenly mail
    spreads over them. The skews are Pareto shapes: smaller is flatter (more of the contacts and
    companies appear at all), larger concentrates mail on the first few."""

    contacts: int = 3000
    companies: int = 400
    contact_skew: float = 0.9
    domain_skew: float = 1.2

    @property
    def tag(self) -> str:
        """For file names, so that files of different populations are not confused."""
        return f"c{self.contacts}-k{self.companies}-s{self.contact_skew:g}-d{self.domain_skew:g}"


def _contacts(rng: random.Random, count: int, companies: int, skew: float = 1.2) -> list[Contact]:
    domains = [f"{rng.choice(WORDS)}{rng.choice(WORDS)}{i}.com" for i in range(companies)]
    people = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if rng.random() < 0.2:
            domain = rng.choice(FREE_MAIL)
            local = f"{first.lower()}.{last.lower()}{i}"
        else:
            domain = domains[int(rng.paretovariate(skew)) % companies]
            local = (
                f"{first.lower()}.{last.lower()}"
                if rng.random() < 0.7
                else f"{first[0].lower()}{last.lower()}{i}"
            )
        local = local.encode("ascii", "ignore").decode() or f"user{i}"
        people.append(Contact(f"{first} {last}", f"{local}@{domain}"))
    return people


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _text(rng: random.Random, size: int) -> str:
    lines, length = [], 0
    while length < size:
        line = _sentence(rng, rng.randint(6, 14))
        lines.append(line)
        length += len(line) + 1
    return "\n".join(lines) + "\n"


def _html(text: str) -> str:
    paragraphs = "".join(f"<p>{line}</p>" for line in text.splitlines())
    return (
        '<html><head><style>p{margin:0}</style></head><body><div dir="ltr">'
        f'{paragraphs}</div><div class="signature"><b>Acme</b> &amp; partners</div></body></html>'
    )


def _qp(text: str) -> str:
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def _b64(data: bytes) -> str:
    encoded = base64.b64encode(data).decode()
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


class Generator:
    """Messages, one at a time, each a complete RFC 5322 message as bytes."""

    def __init__(
        self,
        seed: int = 7,
        contacts: int = 3000,
        companies: int = 400,
        *,
        contact_skew: float = 0.9,
        domain_skew: float = 1.2,
    ) -> None:
        self.rng = random.Random(seed)
        self.contacts = _contacts(self.rng, contacts, companies, domain_skew)
        self.contact_skew = contact_skew
        self.members = [Contact(n.capitalize() + " Acme", f"{n}@{TEAM_DOMAIN}") for n in MEMBERS]
        self.sent: list[tuple[str, str, list[str]]] = []  # (message id, subject, references)
        self.when = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)

    def _contact(self) -> Contact:
        # A few contacts account for most mail.
        index = int(self.rng.paretovariate(self.contact_skew) * 7) % len(self.contacts)
        return self.contacts[index]

    def message(self, n: int) -> bytes:
        rng = self.rng
        self.when += timedelta(seconds=rng.randint(30, 900))
        outbound = rng.random() < 0.35
        member = rng.choice(self.members)
        others = [self._contact() for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 6)))]
        sender, recipients = (member, others) if outbound else (others[0], [member] + others[1:])
        cc = [self._contact() for _ in range(rng.choice((0, 0, 0, 1, 2)))]
        if rng.random() < 0.3:
            cc.append(rng.choice(self.members))
        kind = rng.choices(
            ["plain", "alternative", "attachment", "newsletter", "invite"], [40, 32, 15, 8, 5]
        )[0]
        subject, references = self._thread(kind)
        message_id = f"<{n}.{rng.getrandbits(48):x}@{sender.address.split('@')[1]}>"
        headers = self._headers(sender, recipients, cc, subject, message_id, references, kind)
        return (headers + self._body(kind)).encode("utf-8")

    def _thread(self, kind: str) -> tuple[str, list[str]]:
        if kind in ("plain", "alternative") and self.sent and self.rng.random() < 0.5:
            parent_id, subject, refs = self.sent[
                -1 - int(self.rng.expovariate(0.05)) % len(self.sent)
            ]
            return ("Re: " + subject.removeprefix("Re: ")), (refs + [parent_id])[-20:]
        subject = " ".join(
            self.rng.choice(WORDS) for _ in range(self.rng.randint(2, 7))
        ).capitalize()
        if kind == "newsletter":
            subject = "Weekly digest: " + subject
        if kind == "invite":
            subject = "Invitation: " + subject
        return subject, []

    def _headers(
        self,
        sender: Contact,
        to: list[Contact],
        cc: list[Contact],
        subject: str,
        message_id: str,
        references: list[str],
        kind: str,
    ) -> str:
        rng, date = self.rng, format_datetime(self.when)
        hops = "".join(
            f"Received: from mx{rng.randint(1, 40)}.relay.net "
            f"(mx.relay.net [203.0.113.{rng.randint(1, 254)}])\n"
            f"\tby mail.{TEAM_DOMAIN} with ESMTPS id {rng.getrandbits(40):x}; {date}\n"
            for _ in range(rng.randint(1, 4))
        )
        lines = [
            hops.rstrip("\n"),
            f"DKIM-Signature: v=1; a=rsa-sha256; d={sender.address.split('@')[1]}; s=s1; "
            f"h=from:to:subject:date;\n\tbh={_b64(rng.randbytes(32))};\n\t"
            f"b={_b64(rng.randbytes(128)).replace(chr(10), chr(10) + chr(9))}",
            f"From: {sender.header()}",
            "To: " + ",\n ".join(c.header() for c in to),
        ]
        if cc:
            lines.append("Cc: " + ",\n ".join(c.header() for c in cc))
        lines += [f"Subject: {subject}", f"Date: {date}", f"Message-ID: {message_id}"]
        if references:
            lines.append(f"In-Reply-To: {references[-1]}")
            lines.append("References: " + "\n ".join(references))
        if kind == "newsletter":
            lines.append("List-Unsubscribe: <mailto:unsubscribe@news.example.com>")
            lines.append("Precedence: bulk")
        lines.append("MIME-Version: 1.0")
        self.sent.append((message_id, subject, references))
        return "\n".join(lines) + "\n"

    def _body(self, kind: str) -> str:
        rng = self.rng
        text = _text(rng, int(rng.lognormvariate(7.0, 0.8)) + 200)
        if kind == "plain":
            return (
                "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
                + text
            )
        boundary = f"=_b{rng.getrandbits(64):x}"
        alternative = (
            f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
            f"--{boundary}\nContent-Type: text/html; charset=utf-8\n"
            f"Content-Transfer-Encoding: quoted-printable\n\n{_qp(_html(text))}\n--{boundary}--\n"
        )
        if kind in ("alternative", "newsletter"):
            return f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n' + alternative
        outer = f"=_o{rng.getrandbits(64):x}"
        head = f'Content-Type: multipart/mixed; boundary="{outer}"\n\n--{outer}\n'
        head += f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n{alternative}'
        if kind == "invite":
            ics = (
                "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
                f"UID:{rng.getrandbits(64):x}@acme\r\nSUMMARY:Sync\r\n"
                "DTSTART:20250301T100000Z\r\nDTEND:20250301T103000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            )
            part = f"Content-Type: text/calendar; method=REQUEST; charset=utf-8\n\n{ics}"
        else:
            size = int(rng.lognormvariate(9.5, 1.0))  # median ~13 KB, some much larger
            name = rng.choice(["report", "invoice", "slides", "photo", "contract"]) + rng.choice(
                [".pdf", ".png", ".xlsx", ".docx"]
            )
            part = (
                f'Content-Type: application/octet-stream; name="{name}"\n'
                f'Content-Disposition: attachment; filename="{name}"\n'
                f"Content-Transfer-Encoding: base64\n\n{_b64(rng.randbytes(min(size, 400_000)))}\n"
            )
        return head + f"--{outer}\n{part}\n--{outer}--\n"


def messages(count: int, seed: int = 7, population: Population | None = None) -> Iterator[bytes]:
    shape = population or Population()
    generator = Generator(
        seed,
        shape.contacts,
        shape.companies,
        contact_skew=shape.contact_skew,
        domain_skew=shape.domain_skew,
    )
    for n in range(count):
        yield generator.message(n)


def write_mbox(path: Path, count: int, seed: int = 7, population: Population | None = None) -> Path:
    """Write (once) an mbox of `count` messages; later runs reuse the file, so its name should
    say the count, seed and population (`Population.tag`) when they are not the defaults."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    box = mailbox.mbox(str(partial))
    box.lock()
    for raw in messages(count, seed, population):
        box.add(raw)
    box.flush()
    box.unlock()
    box.close()
    partial.rename(path)
    return path
