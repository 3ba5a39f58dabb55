"""`mailroom ingest` and `mailroom parse`: mail from files, into a mailbox or onto the screen.

Both treat a bad input alike, whether named or found in a folder: one line on stderr saying
which and why, then on with the rest, and a non-zero exit once all is done.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from mailroom.bootstrap import intake_for
from mailroom.cli.common import err, out, run
from mailroom.db import refresh_statistics
from mailroom.intake.port import IngestReport
from mailroom.parsing.normalize import normalize
from mailroom.settings import Settings
from mailroom.sources.files.formats import Unreadable, count, discover, messages
from mailroom.sources.files.importer import import_sources


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="mbox files, Maildir folders, .eml files.")],
    workspace: Annotated[str, typer.Option("--workspace", help="Workspace slug.")],
    mailbox: Annotated[str, typer.Option("--mailbox", help="The member address it belongs to.")],
) -> None:
    """Import messages from files into a member's import mailbox."""
    from mailroom.workspace import get_member, get_workspace, import_mailbox

    skipped = _Skipped()

    async def work(settings: Settings) -> IngestReport:
        space = await get_workspace(workspace)
        box = await import_mailbox(await get_member(space, mailbox))
        found = discover(paths)
        for bad in found.unreadable:
            skipped(bad)
        total = sum(count(s) for s in found.sources)
        async with intake_for(settings, untrusted=False) as intake:
            with _progress(total) as advance:
                report = await import_sources(
                    intake,
                    box,
                    found.sources,
                    batch_size=settings.ingest_batch_size,
                    progress=advance,
                    unreadable=skipped,
                )
        await refresh_statistics()  # a large import changes what the planner should expect
        return report

    report = run(work)
    out.print(summary(report), soft_wrap=True)
    if report.failed or skipped.count:
        raise typer.Exit(1)


def summary(report: IngestReport) -> str:
    seen = report.new + report.duplicate + report.unchanged + report.failed
    parts = [f"{report.new} new", f"{report.duplicate} duplicate", f"{report.unchanged} unchanged"]
    if report.failed:
        parts.append(f"{report.failed} failed (kept, will be retried)")
    return (
        f"{seen} messages: {', '.join(parts)}; {report.defective} with defects; "
        f"{report.people_created} people and {report.companies_created} companies created"
    )


class _Skipped:
    """Reports each input that gave no mail on its own line of stderr, and counts them."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, bad: Unreadable) -> None:
        self.count += 1
        err.print(Text.assemble(("skipped", "yellow"), f" {bad}"), soft_wrap=True)


class _progress:
    """A progress bar on stderr that the import advances."""

    def __init__(self, total: int) -> None:
        self.bar = Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self.task = self.bar.add_task("import", total=total)

    def __enter__(self) -> Callable[[int], None]:
        self.bar.start()
        return lambda done: self.bar.advance(self.task, done)

    def __exit__(self, *_: object) -> None:
        self.bar.stop()


def parse(
    files: Annotated[list[Path], typer.Argument(help="Messages, mbox files or Maildir folders.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Parse messages and print what Mailroom reads from them."""
    skipped = _Skipped()

    async def work(settings: Settings) -> None:
        found = discover(files)
        for bad in found.unreadable:
            skipped(bad)
        for source in found.sources:
            for item in messages(source):
                if isinstance(item, Unreadable):
                    skipped(item)
                    continue
                # An mbox or Maildir's messages are labelled with its own path.
                envelope = normalize(item.raw, limits=settings.limits)
                if as_json:
                    data = {"file": str(source.path), **envelope.to_json()}
                    sys.stdout.write(json.dumps(data) + "\n")
                else:
                    _show(str(source.path), envelope.to_json())

    run(work, with_database=False)
    if skipped.count:
        raise typer.Exit(1)


def _show(label: str, data: dict[str, Any]) -> None:
    """What a message says, as it says it: printed as `Text`, so that brackets and colons in a
    subject or file name are not taken for console markup or emoji codes."""

    def people(key: str) -> str:
        return ", ".join(
            f"{p['name']} <{p['address']}>" if p["name"] else p["address"] for p in data[key]
        )

    out.print(Text(label, style="bold"))
    out.print(Text(f"  subject  {data['subject']}"))
    out.print(Text(f"  date     {data['date']}"))
    for key in ("from", "to", "cc"):
        if data[key]:
            out.print(Text(f"  {key:<8} {people(key)}"))
    out.print(Text(f"  snippet  {data['snippet']}"))
    for attachment in data["attachments"]:
        out.print(Text(f"  attached {attachment['filename']} ({attachment['content_type']})"))
    for defect in data["defects"]:
        out.print(Text.assemble("  ", ("defect", "yellow"), f"   {defect}"))
