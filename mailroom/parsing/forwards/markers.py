"""What mail clients write when they forward, by client and language.

Three kinds of evidence are read here: separator lines (`---------- Forwarded message
---------`, `Begin forwarded message:`, `-----Original Message-----`), the labels of the quoted
header lines (`From:`, `Von:`, `De :`, ...), and subject prefixes (`Fwd:`, `WG:`, `TR:`, `Re:`).
Each label and separator also names the languages it is written in, which tells the date parser
what to expect. Language codes are those of `dateparser`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    """What the outermost subject prefix says the message is."""

    FORWARD = "forward"
    REPLY = "reply"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Separator:
    """A line that starts a quoted message.

    `strong` separators are written by forwards only. The others (Outlook's `-----Original
    Message-----` and underscore rule) start the quoted message of replies just as well.
    """

    client: str
    strong: bool
    languages: tuple[str, ...]


# Dashed separators: Gmail writes 10 dashes before the phrase, Thunderbird 8, Yahoo 5.
_FORWARDED_PHRASES = {
    "forwarded message": ("en",),
    "weitergeleitete nachricht": ("de",),
    "message transféré": ("fr",),
    "message transmis": ("fr",),
    "mensaje reenviado": ("es",),
    "doorgestuurd bericht": ("nl",),
    "messaggio inoltrato": ("it",),
    "mensagem encaminhada": ("pt",),
    "mensagem reencaminhada": ("pt",),
    "vidarebefordrat meddelande": ("sv",),
    "videresendt meddelelse": ("da",),
    "videresendt melding": ("nb",),
    "przekazana wiadomość": ("pl",),
    "treść przekazanej wiadomości": ("pl",),
    "välitetty viesti": ("fi",),
    "välitetty viesti / fwd.msg": ("fi",),
}
_DASHED_CLIENTS = {10: "gmail", 8: "thunderbird", 5: "yahoo"}
# Outlook's `-----Original Message-----`, in the languages Outlook ships.
_ORIGINAL_PHRASES = {
    "original message": ("en",),
    "ursprüngliche nachricht": ("de",),
    "originalnachricht": ("de",),
    "message d'origine": ("fr",),
    "message d’origine": ("fr",),
    "mensaje original": ("es",),
    "oorspronkelijk bericht": ("nl",),
    "messaggio originale": ("it",),
    "mensagem original": ("pt",),
    "ursprungligt meddelande": ("sv",),
    "oprindelig meddelelse": ("da",),
    "opprinnelig melding": ("nb",),
    "wiadomość oryginalna": ("pl",),
    "alkuperäinen viesti": ("fi",),
}
# Apple Mail's `Begin forwarded message:`.
_APPLE_PHRASES = {
    "begin forwarded message": ("en",),
    "anfang der weitergeleiteten nachricht": ("de",),
    "début du message réexpédié": ("fr",),
    "début du message transféré": ("fr",),
    "inicio del mensaje reenviado": ("es",),
    "begin doorgestuurd bericht": ("nl",),
    "inizio messaggio inoltrato": ("it",),
    "início da mensagem encaminhada": ("pt",),
    "início da mensagem reencaminhada": ("pt",),
    "vidarebefordrat mejl": ("sv",),
    "start på videresendt besked": ("da",),
    "videresendt melding": ("nb",),
    "początek przekazywanej wiadomości": ("pl",),
    "välitetty viesti alkaa": ("fi",),
}

_FIELD_LABELS: dict[str, dict[str, tuple[str, ...]]] = {
    "from": {
        "from": ("en",),
        "von": ("de",),
        "absender": ("de",),
        "de": ("fr", "es", "pt"),
        "expéditeur": ("fr",),
        "remitente": ("es",),
        "van": ("nl",),
        "da": ("it",),
        "mittente": ("it",),
        "från": ("sv",),
        "fra": ("da", "nb"),
        "od": ("pl",),
        "nadawca": ("pl",),
        "lähettäjä": ("fi",),
    },
    "date": {
        "date": ("en", "fr"),
        "sent": ("en",),
        "datum": ("de", "nl", "sv"),
        "gesendet": ("de",),
        "envoyé": ("fr",),
        "envoyé le": ("fr",),
        "fecha": ("es",),
        "enviado": ("es", "pt"),
        "enviado el": ("es",),
        "enviado em": ("pt",),
        "enviada em": ("pt",),
        "data": ("it", "pt", "pl"),
        "inviato": ("it",),
        "verzonden": ("nl",),
        "verstuurd": ("nl",),
        "skickat": ("sv",),
        "sendt": ("da", "nb"),
        "dato": ("da", "nb"),
        "wysłano": ("pl",),
        "lähetetty": ("fi",),
        "päivämäärä": ("fi",),
    },
    "to": {
        "to": ("en",),
        "an": ("de",),
        "à": ("fr",),
        "pour": ("fr",),
        "para": ("es", "pt"),
        "aan": ("nl",),
        "a": ("it",),
        "till": ("sv",),
        "til": ("da", "nb"),
        "do": ("pl",),
        "adresat": ("pl",),
        "vastaanottaja": ("fi",),
    },
    "cc": {
        "cc": (),
        "kopie": ("de",),
        "kopie (cc)": ("de",),
        "copie": ("fr",),
        "copie à": ("fr",),
        "copia": ("es", "it"),
        "cópia": ("pt",),
        "kopia": ("sv", "pl"),
        "kopi": ("da", "nb"),
        "kopio": ("fi",),
    },
    "subject": {
        "subject": ("en",),
        "betreff": ("de",),
        "objet": ("fr",),
        "sujet": ("fr",),
        "asunto": ("es",),
        "onderwerp": ("nl",),
        "oggetto": ("it",),
        "assunto": ("pt",),
        "ämne": ("sv",),
        "emne": ("da", "nb"),
        "temat": ("pl",),
        "aihe": ("fi",),
    },
    "reply-to": {
        "reply-to": ("en",),
        "antwort an": ("de",),
        "répondre à": ("fr",),
        "responder a": ("es", "pt"),
        "antwoord aan": ("nl",),
        "rispondi a": ("it",),
    },
    "message-id": {"message-id": (), "message id": (), "nachrichten-id": ("de",)},
}
_LABELS = {
    label: (field, languages)
    for field, labels in _FIELD_LABELS.items()
    for label, languages in labels.items()
}
ADDRESS_FIELDS = frozenset({"from", "to", "cc", "reply-to"})

# Outlook's, Gmail's, Apple Mail's and Thunderbird's prefixes in the languages they ship. `vs` is
# Danish and Norwegian for forward (Finnish Outlook uses it for replies: read as a forward).
_FORWARD_PREFIXES = frozenset(
    "fw fwd wg tr rv doorst vs enc vb vl pd i ilt videresend továbbítás redir"
    " 转发 轉寄 转寄 轉發 転送 전달 πρθ توجيه הועבר".split()
)
_REPLY_PREFIXES = frozenset(
    "re aw sv antw antwort odp ynt res rif r ref réf rép atb vá ha отв ответ"
    " 回复 回覆 答复 答覆 返信 회신 답장 σχετ απ رد השב".split()
)
_PREFIX = re.compile(
    r"\s*(?:\[[^\[\]]{0,80}\]\s*)*([^\W\d_]{1,12}\.?)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]"
)
_OLD_FORWARD = re.compile(r"\s*\[(?:fwd|fw)\s*:", re.IGNORECASE)

_DASHED = re.compile(r"(-{2,12})\s*([^-].{0,60}?)\s*-{2,12}")
_RULE = re.compile(r"_{20,40}")
_LABEL = re.compile(r"\*{0,2}([^\W\d_][\w .()'’-]{0,24}?)\s*\*{0,2}\s*[:：]\s*\*{0,2}[ \t]*")
_SPACES = re.compile(r"\s+")
_REPLY_VERBS = re.compile(
    r"(?:wrote|schrieb|a écrit|escribió|escreveu|geschreven|ha scritto|scrisse|skrev|napisał)"
    r"(?: følgende)?\s*:$",
    re.IGNORECASE,
)
_MAX_MARKER_LINE = 120
_MAX_ATTRIBUTION_LINE = 400


def separator(line: str) -> Separator | None:
    """The separator `line` (stripped of quote markers and blanks) is, if any."""
    if len(line) > _MAX_MARKER_LINE:
        return None
    if _RULE.fullmatch(line):
        return Separator("outlook-web", False, ())
    dashed = _DASHED.fullmatch(line)
    if dashed is not None:
        phrase = _phrase(dashed.group(2))
        if phrase in _FORWARDED_PHRASES:
            client = _DASHED_CLIENTS.get(len(dashed.group(1)), "generic")
            return Separator(client, True, _FORWARDED_PHRASES[phrase])
        if phrase in _ORIGINAL_PHRASES:
            return Separator("outlook", False, _ORIGINAL_PHRASES[phrase])
        return None
    if line.endswith((":", "：")):
        phrase = _phrase(line[:-1])
        if phrase in _APPLE_PHRASES:
            return Separator("apple-mail", True, _APPLE_PHRASES[phrase])
    return None


def field_line(line: str) -> tuple[str, str, tuple[str, ...]] | None:
    """`(field, value, languages)` when `line` is a quoted header line such as `Von: Jane`."""
    match = _LABEL.match(line)
    if match is None:
        return None
    found = _LABELS.get(_phrase(match.group(1)))
    if found is None:
        return None
    field, languages = found
    return field, line[match.end() :].strip(), languages


def subject_intent(subject: str | None) -> Intent:
    """Whether the subject's outermost prefix (after list tags) says forward or reply."""
    if not subject:
        return Intent.NONE
    if _OLD_FORWARD.match(subject):  # `[Fwd: Subject]`, as old Thunderbird wrote it
        return Intent.FORWARD
    match = _PREFIX.match(subject)
    if match is None:
        return Intent.NONE
    # Turkish `İLT` casefolds to `i` and a combining dot.
    word = match.group(1).rstrip(".").casefold().replace("\u0307", "")
    if word in _FORWARD_PREFIXES:
        return Intent.FORWARD
    return Intent.REPLY if word in _REPLY_PREFIXES else Intent.NONE


def is_attribution(line: str, previous: str = "") -> bool:
    """True for the `On <date>, <sender> wrote:` line that starts a reply's quote.

    Clients wrap it, so `line` may be only its end (`wrote:`) and `previous` the rest.
    """
    if len(line) > _MAX_ATTRIBUTION_LINE or _REPLY_VERBS.search(line) is None:
        return False
    shown = f"{previous[-_MAX_ATTRIBUTION_LINE:]} {line}"
    return any(character.isdigit() or character == "@" for character in shown)


def _phrase(text: str) -> str:
    return _SPACES.sub(" ", text).strip().casefold()
