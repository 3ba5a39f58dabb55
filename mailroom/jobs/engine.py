"""The job engine: procrastinate, on the PostgreSQL database Mailroom already uses (its tables
are made by Mailroom's own migration 0015), with Mailroom's tasks.

procrastinate talks to PostgreSQL through psycopg 3, where Tortoise uses asyncpg: the worker
holds a small pool of its own beside Tortoise's (`JOB_POOL` connections, plus one for LISTEN).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import procrastinate

from mailroom.errors import SettingsError
from mailroom.settings import Settings

JOB_POOL = 4  # connections: fetching, finishing, heartbeats and deferring, not the job's work
# procrastinate's own tables, emptied with Mailroom's by the tests and counted by /metrics.
JOB_TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)


def conninfo(database_url: str) -> str:
    """libpq's form of a `postgres://` database URL. Tortoise's query parameters (`minsize`,
    `ssl`, ...) are asyncpg's, not libpq's, and are left out."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SettingsError(
            "jobs need PostgreSQL (MAILROOM_DATABASE_URL=postgres://...): on SQLite, "
            "`mailroom serve` keeps every mailbox in sync itself"
        )
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


def job_app(settings: Settings) -> procrastinate.App:
    """The engine over the settings' database, with every Mailroom task and the schedule of
    the periodic ones; opened by the caller (`async with app.open_async()`)."""
    from mailroom.jobs.tasks import register

    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(settings.database_url), min_size=1, max_size=JOB_POOL
    )
    app = procrastinate.App(connector=connector)
    register(app, settings)
    return app
