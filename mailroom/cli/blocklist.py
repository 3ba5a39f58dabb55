"""`mailroom blocklist`: the addresses and domains whose mail makes no records and is hidden
from everyone but its owners."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mailroom.cli.common import err, out, run

if TYPE_CHECKING:
    from mailroom.settings import Settings

app = typer.Typer(
    help="Add, list and remove blocklisted addresses and domains.", no_args_is_help=True
)

Slug = Annotated[str, typer.Argument(metavar="SLUG", help="The workspace's slug.")]
Entry = Annotated[
    str,
    typer.Argument(
        metavar="ENTRY",
        help="An address (sales@spam.com), a domain (spam.com, with its subdomains), "
        "@spam.com, or a web address (https://spam.com).",
    ),
]


@app.command("add")
def blocklist_add(slug: Slug, entry: Entry) -> None:
    """Blocklist an address or a domain: new mail from it makes no people or companies, and its
    mail, stored already or not, is seen only by the members whose mailboxes have it.

    Example: mailroom blocklist add acme @spam.com

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import OPERATOR, add_blocklist_entry, get_workspace

    async def work(_: Settings) -> str:
        row = await add_blocklist_entry(OPERATOR, await get_workspace(slug), entry)
        return f"Blocklisted {row.kind.value.lower()} {row.value} in {slug}"

    out.print(run(work), markup=False, soft_wrap=True)


@app.command("list")
def blocklist_list(
    slug: Slug, as_json: Annotated[bool, typer.Option("--json", help="A JSON list.")] = False
) -> None:
    """List a workspace's blocklist, oldest first.

    Example: mailroom blocklist list acme

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import blocklist_of, get_workspace

    async def work(_: Settings) -> list[dict[str, Any]]:
        workspace = await get_workspace(slug)
        return [
            {"kind": row.kind.value, "value": row.value} for row in await blocklist_of(workspace.id)
        ]

    rows = run(work)
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        err.print(f"The blocklist of {slug} is empty", markup=False)
    for row in rows:
        out.print(f"{row['kind'].lower():<8} {row['value']}", markup=False, soft_wrap=True)


@app.command("remove")
def blocklist_remove(slug: Slug, entry: Entry) -> None:
    """Take an address or a domain off the blocklist (written as it was added, or in any of the
    other forms). Mail that arrives from now on makes records again.

    Example: mailroom blocklist remove acme spam.com

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import (
        OPERATOR,
        find_blocklist_entry,
        get_workspace,
        remove_blocklist_entry,
    )

    async def work(_: Settings) -> str:
        workspace = await get_workspace(slug)
        row = await find_blocklist_entry(workspace, entry)
        await remove_blocklist_entry(OPERATOR, workspace, row.id)
        return f"Removed {row.kind.value.lower()} {row.value} from the blocklist of {slug}"

    out.print(run(work), markup=False, soft_wrap=True)
