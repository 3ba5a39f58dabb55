"""`mailroom ingest` and `mailroom parse`: mail from files, into a mailbox or onto the screen.

Both treat a bad input alike, whether named or found in a folder: one line on stderr saying
which and why, then on with the rest, and a non-zero exit once all is done.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from mailroom.cli.common import err, out, run
from mailroom.cli.confirm import counted

if TYPE_CHECKING:
    from uuid import UUID

    from mailroom.intake.events import EventReport
    from mailroom.intake.port import IngestReport
    from mailroom.models import Member
    from mailroom.settings import Settings
    from mailroom.sources.files.formats import Unreadable


def ingest(
    arguments: Annotated[
        list[str],
        typer.Argument(
            help="SLUG MEMBER_EMAIL then the files: mbox files, Maildir folders, .eml and .ics "
            "files, folders of them (or only the files, with --workspace and --mailbox).",
            metavar="[SLUG MEMBER_EMAIL] PATH...",
        ),
    ],
    workspace: Annotated[
        str | None, typer.Option("--workspace", help="The workspace (instead of SLUG).")
    ] = None,
    mailbox: Annotated[
        str | None,
        typer.Option("--mailbox", help="The member whose mail it is (instead of MEMBER_EMAIL)."),
    ] = None,
) -> None:
    """Import messages and meetings from files into a member's import mailbox.

    Import the sent mail too: under the default record creation mode (SELECTIVE) people become
    records when a member has written to them. iCalendar files (.ics) become meetings; recurring
    ones are expanded over the calendar window (MAILROOM_CALENDAR_DAYS_BACK / _AHEAD).

    Examples: mailroom ingest acme alice@acme.com ~/Mail/alice.mbox ~/Mail/Sent
              mailroom ingest --workspace acme --mailbox alice@acme.com calendar.ics

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database), MAILROOM_NORMALIZE_WORKERS,
    MAILROOM_INGEST_BATCH_SIZE, MAILROOM_PARSE_TIMEOUT and the message limits (MAILROOM_MAX_*).
    """
    from mailroom.bootstrap import calendar_rules, intake_for
    from mailroom.db import refresh_statistics
    from mailroom.intake.port import IngestReport
    from mailroom.sources.files.calendars import import_calendars, is_calendar
    from mailroom.sources.files.formats import count, discover
    from mailroom.sources.files.importer import import_sources
    from mailroom.workspace import get_member, get_workspace, import_mailbox

    slug, member_email, path = _who_and_what(arguments, workspace, mailbox)
    calendars = [p for p in path if is_calendar(p)]
    mail = [p for p in path if p not in calendars]
    skipped = _Skipped()

    async def work(settings: Settings) -> tuple[IngestReport, str]:
        space = await get_workspace(slug)
        member = await get_member(space, member_email)
        box = await import_mailbox(member)
        said: list[str] = []
        report = IngestReport()
        if calendars:
            meetings = await import_calendars(box, calendars, calendar_rules(settings))
            for bad in meetings.unreadable:
                skipped(bad)
            for defect in meetings.defects[:20]:
                err.print(Text.assemble(("defect", "yellow"), f" {defect}"), soft_wrap=True)
            said.append(calendar_summary(meetings.files, meetings.report))
        if mail or not calendars:
            found = discover(mail)
            for bad in found.unreadable:
                skipped(bad)
            total = sum(count(s) for s in found.sources)
            with _progress(total) as advance:
                async with intake_for(settings, untrusted=False, messages=total) as intake:
                    report = await import_sources(
                        intake,
                        box,
                        found.sources,
                        batch_size=settings.ingest_batch_size,
                        progress=advance,
                        unreadable=skipped,
                    )
            await refresh_statistics()  # a large import changes what the planner should expect
            why = await _why_no_records(
                report, space.slug, space.record_creation_mode, box.id, member
            )
            said.insert(0, summary(report, why))
        return report, "\n".join(said)

    report, said = run(work)
    out.print(Text(said), soft_wrap=True)
    if report.failed or skipped.count:
        raise typer.Exit(1)


def _who_and_what(
    arguments: list[str], workspace: str | None, mailbox: str | None
) -> tuple[str, str, list[Path]]:
    """The workspace, the member and the paths, from the arguments and options: the options,
    when given, name the first two, and every argument is then a path."""
    given = list(arguments)
    if workspace is None:
        if not given:
            raise typer.BadParameter("name the workspace (SLUG or --workspace)")
        workspace = given.pop(0)
    if mailbox is None:
        if not given:
            raise typer.BadParameter("name the member (MEMBER_EMAIL or --mailbox)")
        mailbox = given.pop(0)
    if not given:
        raise typer.BadParameter("name at least one file or folder to import")
    return workspace, mailbox, [Path(p) for p in given]


def calendar_summary(files: int, report: EventReport) -> str:
    """`2 calendar files: 14 new meetings, 0 updated, 3 unchanged; 1 private left out`."""
    line = (
        f"{counted(files, 'calendar file')}: {counted(report.new, 'new meeting')}, "
        f"{report.updated} updated, {report.unchanged} unchanged"
    )
    if report.private:
        line += f"; {report.private} private left out"
    if report.people_created:
        line += f"; {counted(report.people_created, 'person', 'people')} created"
    return line


def summary(report: IngestReport, no_records: str | None = None) -> str:
    """`1 message: 1 new, ...; 1 person and 1 company created`; `no_records` says why none were
    made, where that would puzzle."""
    seen = report.new + report.duplicate + report.unchanged + report.failed
    parts = [f"{report.new} new", f"{report.duplicate} duplicate", f"{report.unchanged} unchanged"]
    if report.failed:
        parts.append(f"{report.failed} failed (kept, will be retried)")
    made = (
        f"{counted(report.people_created, 'person', 'people')} and "
        f"{counted(report.companies_created, 'company')} created"
    )
    return (
        f"{counted(seen, 'message')}: {', '.join(parts)}; {report.defective} with defects; "
        f"{made if no_records is None else 'no people or companies created: ' + no_records}"
    )


async def _why_no_records(
    report: IngestReport, slug: str, mode: str, mailbox_id: UUID, member: Member
) -> str | None:
    """Why new mail made no records, when the answer is the record creation mode: SELECTIVE
    makes records of the people members write to, and a mailbox of received mail names none."""
    from mailroom.choices import RecordCreationMode
    from mailroom.workspace import sent_messages

    if mode != RecordCreationMode.SELECTIVE or not report.new:
        return None
    if report.people_created or report.companies_created or await sent_messages(mailbox_id):
        return None
    return (
        "under SELECTIVE record creation people become records when a member writes to them, "
        f"and this mailbox holds no mail sent by {member.email} (import the sent mail too, or "
        f"`mailroom workspace set {slug} --record-creation-mode ALL`)"
    )


class _Skipped:
    """Reports each input that gave no mail on its own line of stderr, and counts them."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, bad: Unreadable) -> None:
        self.count += 1
        err.print(Text.assemble(("skipped", "yellow"), f" {bad}"), soft_wrap=True)


class _progress:
    """A progress bar on stderr that the import advances. Until the first batch is done (its
    messages stored and parsed, after a worker process has started if the import uses one) the
    bar pulses: it has nothing to count yet, but it shows that it is working."""

    def __init__(self, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.total = total
        self.task = self.bar.add_task("import", total=None)

    def __enter__(self) -> Callable[[int], None]:
        self.bar.start()
        return self._advance

    def _advance(self, done: int) -> None:
        self.bar.update(self.task, total=self.total, advance=done)

    def __exit__(self, *_: object) -> None:
        self.bar.stop()


def parse(
    path: Annotated[list[Path], typer.Argument(help="Messages, mbox files or Maildir folders.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Parse messages and print what Mailroom reads from them, without touching the database.

    Example: mailroom parse --json message.eml ~/Mail/alice.mbox

    Settings: the message limits (MAILROOM_MAX_MESSAGE_BYTES, MAILROOM_MAX_HEADERS,
    MAILROOM_MAX_HEADER_LENGTH, MAILROOM_MAX_MIME_PARTS, MAILROOM_MAX_MIME_DEPTH).
    """
    from mailroom.parsing.normalize import normalize
    from mailroom.sources.files.formats import Unreadable, discover, messages

    skipped = _Skipped()

    async def work(settings: Settings) -> None:
        found = discover(path)
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
