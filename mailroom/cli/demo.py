"""`mailroom demo`: a workspace to try Mailroom with, filled from the sample mail shipped in
`mailroom/demo/` (its README says what is in it), then served as `mailroom serve` serves.

Running it again reuses the workspace: the import stores nothing twice, and new tokens are
printed, since a token is shown once only."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from mailroom.cli.common import out, run

if TYPE_CHECKING:
    from mailroom.models import Member, Workspace
    from mailroom.settings import Settings

# Package data (pyproject.toml), beside the code, so that an installed Mailroom has it too.
SAMPLES = Path(__file__).resolve().parents[1] / "demo"
MAILBOX = SAMPLES / "alice.mbox"
FORWARD = SAMPLES / "forwarded.eml"
# The sample mail is Alice's: she is its sender and recipient, so these addresses are fixed.
TEAM = (
    ("alice@acme.com", "Alice Martin", True),
    ("bob@acme.com", "Bob Chen", False),
)


@dataclass(frozen=True, slots=True)
class Made:
    """What the demo set up, to be printed."""

    workspace: str
    reused: bool
    imported: str  # the import's summary line
    tokens: dict[str, str]  # member address -> a new API token
    workspace_address: str
    personal_address: str  # Alice's


def demo(
    slug: Annotated[
        str, typer.Option("--slug", metavar="SLUG", help="The workspace to make or reuse.")
    ] = "acme",
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve once set up, as `mailroom serve`.")
    ] = True,
) -> None:
    """Make a workspace to try Mailroom with, print how to reach it, then serve it.

    The workspace (plan PRO) has two members, alice@acme.com (admin) and bob@acme.com, and
    Alice's import mailbox holds a sample of her mail written for Mailroom (mailroom/demo/).
    Its sender policy is ADDRESS_ONLY, so that mail sent to the local SMTP port as Alice is
    taken without DKIM or SPF: for trying forwarding on this machine, not for production.
    An API token is printed for each member; GraphiQL and introspection are on. Run again, it
    reuses the workspace: nothing is imported twice, and new tokens are printed. A workspace of
    that slug made otherwise is left alone.

    Example: mailroom demo --no-serve

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database), MAILROOM_MAIL_DOMAIN,
    and those of `mailroom serve` (MAILROOM_HTTP_PORT, MAILROOM_SMTP_PORT, ...).
    """

    async def work(settings: Settings) -> None:
        _show(await _set_up(settings, slug), settings)

    run(work, create=True)
    if serve:
        _serve()


async def _set_up(settings: Settings, slug: str) -> Made:
    from mailroom.choices import SenderPolicy
    from mailroom.workspace import (
        create_token,
        forwarding_address,
        update_workspace,
        workspace_address,
    )

    space, reused = await _workspace(slug)
    alice, bob = [await _member(space, email, name, admin) for email, name, admin in TEAM]
    await update_workspace(space, sender_policy=SenderPolicy.ADDRESS_ONLY)
    imported = await _import(settings, alice)
    return Made(
        workspace=space.slug,
        reused=reused,
        imported=imported,
        tokens={alice.email: await create_token(alice), bob.email: await create_token(bob)},
        workspace_address=workspace_address(space, settings.mail_domain),
        personal_address=await forwarding_address(alice, settings.mail_domain),
    )


async def _workspace(slug: str) -> tuple[Workspace, bool]:
    """The workspace, and whether an earlier run made it. One made otherwise (it lacks Alice)
    is refused, so that the sample mail never lands among real mail."""
    from mailroom.choices import Plan
    from mailroom.errors import ConflictError, NotFoundError
    from mailroom.workspace import create_workspace, get_member, get_workspace

    try:
        space = await get_workspace(slug)
    except NotFoundError:
        return await create_workspace(slug, "Acme Inc", Plan.PRO), False
    try:
        await get_member(space, TEAM[0][0])
    except NotFoundError:
        raise ConflictError(
            f"workspace {slug!r} exists and is not the demo's (it has no member "
            f"{TEAM[0][0]}): choose another with --slug",
            workspace=slug,
        ) from None
    return space, True


async def _member(space: Workspace, email: str, name: str, admin: bool) -> Member:
    from mailroom.errors import NotFoundError
    from mailroom.workspace import add_member, get_member

    try:
        return await get_member(space, email)
    except NotFoundError:
        return await add_member(space, email, admin=admin, name=name)


async def _import(settings: Settings, alice: Member) -> str:
    """Import the sample mailbox as `mailroom ingest` imports files; its summary line."""
    from mailroom.bootstrap import intake_for
    from mailroom.cli.files import summary
    from mailroom.errors import InvalidInputError
    from mailroom.sources.files.formats import count, discover
    from mailroom.sources.files.importer import import_sources
    from mailroom.workspace import import_mailbox

    found = discover([MAILBOX])
    if found.unreadable or not found.sources:
        # Only a broken installation lacks it: say so rather than serve an empty workspace.
        why = found.unreadable[0] if found.unreadable else MAILBOX
        raise InvalidInputError(f"the sample mailbox cannot be read: {why}")
    box = await import_mailbox(alice)
    total = sum(count(source) for source in found.sources)
    async with intake_for(settings, untrusted=False, messages=total) as intake:
        report = await import_sources(
            intake, box, found.sources, batch_size=settings.ingest_batch_size
        )
    return summary(report)


def _show(made: Made, settings: Settings) -> None:
    """Everything needed to try it, printed as plain text (a token or path is never markup)."""
    lines = [
        f"Workspace {made.workspace}" + (" (made by an earlier run)" if made.reused else ""),
        f"Imported {MAILBOX} into {TEAM[0][0]}'s mailbox: {made.imported}",
        "",
        *_api_lines(made, settings),
        "",
        *_forwarding_lines(made, settings),
    ]
    for line in lines:
        out.print(Text(line), soft_wrap=True)


def _api_lines(made: Made, settings: Settings) -> list[str]:
    api = f"http://{_in_url(_reachable(settings.http_host))}:{settings.http_port}/graphql"
    query = json.dumps({"query": "{ people { nodes { name emails company { name } } } }"})
    return [
        "API tokens (new at every run; earlier ones still work):",
        *(f"  {email:<16} {token}" for email, token in made.tokens.items()),
        "",
        f"GraphiQL: {api}  (paste a token into the page's token field)",
        "Ask the API as Bob:",
        f"  curl -s {api} -H 'Authorization: Bearer {made.tokens[TEAM[1][0]]}' \\",
        f"    -H 'Content-Type: application/json' -d {shlex.quote(query)}",
    ]


def _forwarding_lines(made: Made, settings: Settings) -> list[str]:
    host, alice = _reachable(settings.smtp_host), TEAM[0][0]
    # Python rather than a mail tool, which not every machine has; JSON strings read as Python's.
    # The file is read as text: smtplib turns its line ends into the CRLF that SMTP needs (bytes
    # it would send as they are, and a receiver reads LF-only mail as one overlong line).
    send = (
        f"import smtplib; smtplib.SMTP({json.dumps(host)}, {settings.smtp_port}).sendmail("
        f"{json.dumps(alice)}, [{json.dumps(made.workspace_address)}], "
        f"open({json.dumps(str(FORWARD))}).read())"
    )
    return [
        f"Forwarding: SMTP at {_in_url(host)}:{settings.smtp_port}, sender policy ADDRESS_ONLY"
        " (the From address is trusted as it is: for trying it on this machine only)",
        *(
            f"  {label + ':':<{len(alice) + 16}} {address}"
            for label, address in (
                ("workspace address", made.workspace_address),
                (f"{alice}'s own address", made.personal_address),
            )
        ),
        "Forward a sample message as Alice:",
        f"  python3 -c {shlex.quote(send)}",
    ]


def _reachable(host: str) -> str:
    """The host a client on this machine reaches a server listening on `host` at."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def _in_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _serve() -> None:
    """`mailroom serve`, with GraphiQL and introspection on: exploring the API in a browser is
    what the demo is for, and it listens on this machine only unless told otherwise."""
    from mailroom.app import run_server

    async def serving(settings: Settings) -> None:
        explorable = settings.model_copy(update={"graphiql": True, "graphql_introspection": True})
        await run_server(explorable)

    run(serving, with_database=False, server=True)
