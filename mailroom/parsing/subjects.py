"""The subject key used to thread messages whose References were lost.

Reply and forward prefixes differ by client and language and stack up (`Re: AW: Fwd: [team]
Re[2]: ...`); all of them, and mailing-list tags among them, are stripped before comparing.
"""

from __future__ import annotations

import re

# Outlook, Gmail, Apple Mail, Thunderbird and webmail prefixes in the languages they ship.
_PREFIXES = (
    "re|aw|sv|vs|antw|antwort|odp|ynt|res|rif|r|rv|ref|réf|rép|atb|vá|ha|отв|ответ"
    "|fw|fwd|wg|tr|doorst|enc|fs|vb|vl|fv|i|pd|ilt|i̇lt|továbbítás|wtrn|trs|pr"
    "|回复|回覆|答复|答覆|转发|轉寄|转寄|轉發|返信|転送|회신|답장|전달"
    "|σχετ|πρθ|απ|رد|توجيه|השב|הועבר"
)
_PREFIX = re.compile(
    rf"\s*(?:\[[^\[\]]*\]|(?:{_PREFIXES})(?:\s*(?:\[\d+\]|\(\d+\)))?\s*[:：])",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")
_MAX_LENGTH = 1000


def normalize_subject(subject: str | None) -> str:
    """Lowercase subject without reply/forward prefixes or `[list]` tags, whitespace collapsed."""
    if not subject:
        return ""
    text = subject[: _MAX_LENGTH * 2]
    pos = 0
    while (match := _PREFIX.match(text, pos)) is not None and match.end() > pos:
        pos = match.end()
    return _SPACES.sub(" ", text[pos:]).strip().lower()[:_MAX_LENGTH]
