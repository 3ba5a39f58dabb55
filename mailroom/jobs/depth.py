"""The queue's depth, for /metrics: jobs waiting and running by task, read through Mailroom's
own database connection (any `serve` or worker can answer it); none on SQLite, which runs no
jobs."""

from __future__ import annotations

from tortoise import connections

from mailroom.jobs.tasks import TASKS


async def queued_jobs() -> dict[tuple[str, str], int]:
    connection = connections.get("default")
    if connection.capabilities.dialect != "postgres":
        return {}
    rows = await connection.execute_query_dict(
        "SELECT task_name, status::text AS status, COUNT(*) AS count FROM procrastinate_jobs"
        " WHERE status IN ('todo', 'doing') GROUP BY task_name, status"
    )
    # Every task, so that an empty queue reads 0 rather than no series.
    found = {(task, status): 0 for task in TASKS for status in ("todo", "doing")}
    for row in rows:
        found[(row["task_name"], row["status"])] = int(row["count"])
    return found
