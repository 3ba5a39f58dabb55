"""Jobs asked for from outside a worker: the command line's `--queue`, which leaves a sync
pass, a reconciliation or a rebuild of the relationship figures to the workers rather than
running it in its own process (on a node with no mailbox credentials, or for a rebuild that
should not hold a terminal).

Each is deferred under the same locks as the workers' own jobs, so a pass asked for by hand
never runs beside the scheduler's: one waiting pass per mailbox, one rebuild per workspace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import procrastinate
from procrastinate.exceptions import ConnectorException

from mailroom.errors import DatabaseError
from mailroom.jobs.engine import job_app
from mailroom.jobs.schedule import defer_sync
from mailroom.jobs.tasks import defer_rebuild, defer_reconcile
from mailroom.models import Mailbox, Workspace
from mailroom.settings import Settings
from mailroom.workspace import syncable


@dataclass(frozen=True, slots=True)
class Queued:
    job: int | None  # None: the same job waits already, and does what was asked


async def queue_sync(settings: Settings, mailbox: Mailbox) -> Queued:
    syncable(mailbox)
    return await _deferred(settings, lambda app: defer_sync(app, mailbox.id))


async def queue_reconcile(settings: Settings, mailbox: Mailbox, *, repair: bool) -> Queued:
    syncable(mailbox, mail=True)
    return await _deferred(settings, lambda app: defer_reconcile(app, mailbox.id, repair=repair))


async def queue_rebuild(settings: Settings, workspace: Workspace) -> Queued:
    return await _deferred(settings, lambda app: defer_rebuild(app, workspace.id))


async def _deferred(
    settings: Settings, defer: Callable[[procrastinate.App], Awaitable[int | None]]
) -> Queued:
    app = job_app(settings)
    try:
        async with app.open_async():
            return Queued(await defer(app))
    except ConnectorException as error:
        raise DatabaseError(f"could not queue the job: {error}") from error
