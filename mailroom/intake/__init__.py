"""Intake: the one port every source hands bytes to. Durable first, then processed.

port        what sources hand in (Incoming, SourceFacts) and what comes out (IngestReport)
service     Intake: store durably, process, replay; Batches: stored batches processed in order
durable     bytes and pending rows committed before anything parses them
process     stored bytes -> messages, copies, threads, participants, records
rows        the rows an envelope is stored as; the content digest that keys a message
threading   jwz-style thread assignment against the store
workers     the normalize process pool: parsing off the event loop, within a time budget
pipeline    durable intake for the live edges (SMTP): spool, batches, background processing
spool       the append-only file spool behind SMTP's 250
removal     what goes when a mailbox no longer has a message
locks       one writer per workspace
"""

from mailroom.intake.port import Incoming, IngestReport, Outcome, Pending, SourceFacts
from mailroom.intake.service import Batches, Intake

__all__ = ["Batches", "Incoming", "IngestReport", "Intake", "Outcome", "Pending", "SourceFacts"]
