"""Asking before a command removes something. The command says first what will go; the question
is asked on stderr, so that a script reading stdout never sees it; `--yes` answers it for
scripts, and no answer (a closed input, no terminal) is a no."""

from __future__ import annotations

from typing import Annotated

import typer

from mailroom.cli.common import err, failed

Yes = Annotated[bool, typer.Option("--yes", "-y", help="Remove without asking.")]


def confirm(what: str, question: str, *, yes: bool) -> bool:
    """Print `what` will happen, then ask `question`: whether to go on. Called within `run`'s
    work, where raising the command's exit would read as a bug: a command told no returns, then
    exits with code 1."""
    err.print(what, markup=False, soft_wrap=True)
    if yes:
        return True
    try:
        agreed = typer.confirm(question, default=False, err=True)
    except typer.Abort:  # the input closed without an answer
        err.print()
        agreed = False
    if not agreed:
        failed("nothing removed", "answer y to the question, or add --yes")
    return agreed


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`1 mailbox`, `2 mailboxes`, `0 companies`: how the removals count what they take."""
    if n == 1:
        return f"1 {noun}"
    if plural is None:
        if noun.endswith(("x", "s")):
            plural = noun + "es"
        elif noun.endswith("y") and noun[-2:-1] not in "aeiou":
            plural = noun[:-1] + "ies"
        else:
            plural = noun + "s"
    return f"{n} {plural}"
