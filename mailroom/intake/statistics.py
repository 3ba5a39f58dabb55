"""Planner statistics kept up while intake grows the tables.

Both databases choose how to look a batch's 500 keys up (a message's `dedupe_key`, a raw
message's digest, thread keys, copies, addresses) from statistics that only ANALYZE gathers.
Gathered on an empty or much smaller table, they say the table is tiny, and PostgreSQL then
reads whole tables instead of seeking their indexes: each batch of an import cost more than the
one before (a 20,000-message import into PostgreSQL went from 7 ms to 1.4 s a lookup;
bench/RESULTS.md). Autovacuum would analyze them, but it may be off, and it lags behind an
import. So intake counts what it stores, and analyzes the tables it reads and writes whenever
they have grown by `FACTOR` since their statistics were gathered: a handful of times over any
import (log2 of its growth), each a sample, so the cost per message stays flat.
"""

from __future__ import annotations

import logging

from tortoise.exceptions import BaseORMException

from mailroom.db import DRIVER_ERRORS, analyze, analyzed_rows

log = logging.getLogger(__name__)

# The tables an ingest batch looks keys up in or adds rows to; they grow together, and
# `message` stands for them all.
HOT_TABLES = (
    "raw_message",
    "pending_ingest",
    "message",
    "message_copy",
    "provider_item",
    "thread",
    "thread_key",
    "participant",
    "attachment",
    "person",
    "person_email",
    "company",
    "company_domain",
    "interaction",
    "connection",
)
FACTOR = 2.0
# Messages stored before the first analysis of tables that have no statistics: a couple of
# batches, enough that the sample says what the tables hold.
FIRST = 1000


class Growth:
    """What this process stored since the statistics were last gathered, by its count of new
    messages; other processes keep their own (at worst the tables are analyzed more often)."""

    def __init__(self, factor: float = FACTOR, first: int = FIRST) -> None:
        self.factor = factor
        self.first = first
        self._known: int | None = None  # messages the statistics were gathered over
        self._since = 0

    async def stored(self, messages: int) -> bool:
        """Count newly stored messages; analyze the hot tables when they have grown enough.
        Returns whether it did. Call it outside a transaction: the statistics are of what is
        committed."""
        if not messages:
            return False
        if self._known is None:
            self._known = await analyzed_rows("message")
        self._since += messages
        if self._since < max(self.first, self._known * (self.factor - 1)):
            return False
        try:
            await analyze(HOT_TABLES)
        except (BaseORMException, *DRIVER_ERRORS) as error:
            # The batch is committed: statistics are an aid, and the next batch tries again.
            log.warning("could not analyze the intake's tables: %s", error)
            return False
        log.debug("analyzed the intake's tables at about %d messages", self._known + self._since)
        self._known += self._since
        self._since = 0
        return True
