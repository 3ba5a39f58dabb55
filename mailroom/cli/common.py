"""What every command shares: the consoles and `run`, which reads the settings once, opens the
database when the command needs it, and turns Mailroom's own errors into one line on stderr and
a non-zero exit.

The libraries a command's work needs (the settings, the database, the parsing stack, the
servers) are imported by the work, inside `run` or the command's function, never when this
package is imported: `mailroom --help` and `--version` load none of them (bench/startup.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from mailroom.jobs.queue import Queued
    from mailroom.settings import Settings

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
T = TypeVar("T")


# Set by `main`: the program is the command line, not a test that calls a command's code.
QUIET_LOGS = False

QUEUE = typer.Option(
    "--queue",
    help="Leave it to the workers (`mailroom worker`, PostgreSQL): queue a job and return.",
)


def run(
    work: Callable[[Settings], Awaitable[T]],
    *,
    with_database: bool = True,
    create: bool = False,
    server: bool = False,
) -> T:
    """Run a command's coroutine. Errors become one line on stderr and exit code 1 (2 for a bug,
    whose traceback `MAILROOM_DEBUG=true` shows).

    Only a command that `create`s may make the database; any other finds none where the settings
    point rather than making an empty one there (in whatever folder it was started from)."""
    from mailroom.errors import MailroomError, NotFoundError
    from mailroom.settings import load_settings

    if QUIET_LOGS and not server:
        # A command reports what happened itself, in its output and its one error line; the
        # log records a sync or an import writes for `serve`'s operator ("sync failed", with
        # the same error) would only repeat it, unformatted, through logging's last resort.
        quiet = logging.getLogger("mailroom")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
    settings: Settings | None = None
    try:
        settings = load_settings()
        if not with_database:
            return _loop(work(settings), server)
        from tortoise.exceptions import BaseORMException

        from mailroom.db import where

        try:
            return _loop(_with_database(work, settings, create), server)
        except NotFoundError as error:
            failed("error", f"{error} (looked in {where(settings)})")
            raise typer.Exit(1) from None
        except BaseORMException as error:
            failed("database error", str(error))
            raise typer.Exit(1) from None
    except MailroomError as error:
        failed("error", str(error))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(130) from None
    except typer.Exit:  # an inner handler's verdict
        raise
    except Exception as error:
        if settings is not None and settings.debug:
            raise
        failed(
            "internal error",
            f"{type(error).__name__}: {error} (set MAILROOM_DEBUG=true for the traceback)",
        )
        raise typer.Exit(2) from None


def _loop(main: Awaitable[T], server: bool) -> T:
    if server:
        # uvloop's sockets and scheduling cut the gateway's per-message cost by a third
        # (bench/smtp.py); one-shot commands keep the standard loop.
        import uvloop

        return uvloop.run(_awaited(main))
    import asyncio

    return asyncio.run(_awaited(main))


async def _awaited(main: Awaitable[T]) -> T:
    return await main


async def _with_database(
    work: Callable[[Settings], Awaitable[T]], settings: Settings, create: bool
) -> T:
    from mailroom.db import database, where

    async with database(settings, create=create) as made:
        if made:
            err.print(Text(f"Created the database {where(settings)}"), soft_wrap=True)
        return await work(settings)


def said_queued(queued: Queued, what: str) -> None:
    """What `--queue` did: the job's number, for the worker's log, or that one waits already."""
    if queued.job is None:
        out.print(Text(f"{what} is queued already: it will run once"), soft_wrap=True)
    else:
        out.print(Text(f"{what} is queued for the workers: job {queued.job}"), soft_wrap=True)


def failed(label: str, message: str) -> None:
    """One line on stderr. The message is printed as written, never read as markup: it can
    hold a path, an address or a server's words, any of which may contain `[/x]`."""
    err.print(Text.assemble((f"{label}:", "red"), " ", message), soft_wrap=True)


def refuse(message: str) -> NoReturn:
    """Stop a command before its work begins (a password it cannot ask for): one line, exit 1."""
    failed("error", message)
    raise typer.Exit(1)
