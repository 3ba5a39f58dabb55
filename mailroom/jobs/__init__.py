"""Sync and processing as jobs on PostgreSQL, for running Mailroom on more than one process or
machine (`mailroom worker`).

The embedded default (SQLite, one `serve`) keeps every mailbox in sync with its own pollers and
needs none of this. On PostgreSQL any number of workers take jobs from one queue in the
database, through procrastinate (an asyncio job engine that needs nothing but PostgreSQL):

engine     the job engine over Mailroom's database, with Mailroom's tasks
tasks      the tasks: a mailbox's sync pass, a reconciliation, an intelligence rebuild
schedule   which mailboxes are due for a pass, deferred every few seconds
stalled    jobs a killed worker left `doing`, taken up again without breaking a lock
"""
