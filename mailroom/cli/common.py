"""What every command shares: the consoles and `run`, which reads the settings once, opens the
database when the command needs it, and turns Mailroom's own errors into one line on stderr and
a non-zero exit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
import uvloop
from rich.console import Console
from rich.text import Text
from tortoise.exceptions import BaseORMException

from mailroom.db import database
from mailroom.errors import MailroomError
from mailroom.settings import Settings, load_settings

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
T = TypeVar("T")


def run(
    work: Callable[[Settings], Awaitable[T]], *, with_database: bool = True, server: bool = False
) -> T:
    """Run a command's coroutine. Errors become one line on stderr and exit code 1 (2 for a bug,
    whose traceback `MAILROOM_DEBUG=true` shows)."""
    settings: Settings | None = None
    try:
        settings = load_settings()

        async def main() -> T:
            if not with_database:
                return await work(settings)
            async with database(settings):
                return await work(settings)

        if server:
            # uvloop's sockets and scheduling cut the gateway's per-message cost by a third
            # (bench/smtp.py); one-shot commands keep the standard loop.
            return uvloop.run(main())
        return asyncio.run(main())
    except MailroomError as error:
        failed("error", str(error))
        raise typer.Exit(1) from None
    except BaseORMException as error:
        failed("database error", str(error))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(130) from None
    except Exception as error:
        if settings is not None and settings.debug:
            raise
        failed(
            "internal error",
            f"{type(error).__name__}: {error} (set MAILROOM_DEBUG=true for the traceback)",
        )
        raise typer.Exit(2) from None


def failed(label: str, message: str) -> None:
    """One line on stderr. The message is printed as written, never read as markup: it can
    hold a path, an address or a server's words, any of which may contain `[/x]`."""
    err.print(Text.assemble((f"{label}:", "red"), " ", message), soft_wrap=True)
