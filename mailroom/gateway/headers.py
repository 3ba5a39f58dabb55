"""The header block of one message or part, read once, within limits, as raw values."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message


@dataclass
class HeaderTable:
    """Raw header values by lowercase name, in the order they appear."""

    values: dict[str, list[str]] = field(default_factory=dict)
    defects: list[str] = field(default_factory=list)

    def first(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[0] if found else None

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])


def read_headers(part: Message, max_headers: int, max_length: int) -> HeaderTable:
    """Collect `part`'s headers; past `max_headers` or `max_length` they are cut with a defect."""
    table = HeaderTable()
    for count, (name, value) in enumerate(part.raw_items()):
        if count >= max_headers:
            table.defects.append(f"more than {max_headers} headers: the rest were ignored")
            break
        text = value if isinstance(value, str) else str(value)
        if len(text) > max_length:
            table.defects.append(f"{name} header longer than {max_length} characters: truncated")
            text = text[:max_length]
        table.values.setdefault(name.lower(), []).append(text)
    return table
