"""Benchmark of IMAP sync against a real Dovecot.

    python bench/imap.py [--messages 20000] [--idle-samples 20]

In one run, against the same folder of `--messages` seeded synthetic messages (APPENDed):
  (a) a bare imapclient loop: batched UID FETCH of BODY.PEEK[], the baseline;
  (b) Mailroom's first sync of that folder into SQLite (fetch, store, parse, thread, resolve);
and the time from an APPEND to the message being stored, with Mailroom waiting in IDLE
(median of `--idle-samples`). Figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from imapclient import IMAPClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import messages, write_mbox  # noqa: E402
from bench.dovecot import Dovecot  # noqa: E402
from bench.results import write_section  # noqa: E402
from mailroom.db import close_database, open_database  # noqa: E402
from mailroom.intake import Intake  # noqa: E402
from mailroom.intake.workers import NormalizePool  # noqa: E402
from mailroom.models import Mailbox, MailboxStatus, Message, Plan  # noqa: E402
from mailroom.settings import Settings  # noqa: E402
from mailroom.sources.files.formats import Kind, Source  # noqa: E402
from mailroom.sources.files.importer import import_sources  # noqa: E402
from mailroom.sources.imap.accounts import connection_for  # noqa: E402
from mailroom.sources.imap.poller import MailboxSync  # noqa: E402
from mailroom.vault import new_key  # noqa: E402
from mailroom.workspace import add_imap_mailbox, add_member, create_workspace, import_mailbox  # noqa: E402

BATCH = 500
TARGET_RATIO, TARGET_IDLE = 0.5, 2.0
# Issue 16: the first sync against the import of the same messages.
TARGET_OF_IMPORT = 0.85


def bare_fetch(port: int, user: str, password: str) -> float:
    """Messages per second of a plain imapclient loop fetching the whole folder."""
    start = time.perf_counter()
    with IMAPClient("127.0.0.1", port, ssl=False) as client:
        client.login(user, password)
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]), reverse=True)
        fetched = 0
        for i in range(0, len(uids), BATCH):
            fetched += len(client.fetch(uids[i : i + BATCH], [b"BODY.PEEK[]"]))
    return fetched / (time.perf_counter() - start)


async def mailroom_sync(
    settings: Settings, port: int, user: str, password: str
) -> tuple[float, int, Mailbox]:
    workspace = await create_workspace("bench", plan=Plan.ENTERPRISE)
    member = await add_member(workspace, "alice@acme-corp.com")
    connection = connection_for("127.0.0.1", port, "none", user)
    mailbox = await add_imap_mailbox(settings, workspace, member, connection, password)
    pool = NormalizePool(settings.normalize_workers) if settings.normalize_workers else None
    try:
        start = time.perf_counter()
        report = await MailboxSync(mailbox.id, settings, Intake(settings.limits, pool)).once()
        elapsed = time.perf_counter() - start
    finally:
        if pool is not None:
            pool.close()
    return report.new / elapsed, report.new, mailbox


async def import_rate(count: int) -> float:
    """Messages per second of importing the same messages from an mbox into a fresh SQLite."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_mbox(Path(folder) / "same.mbox", count)
        settings = Settings(database_url=f"sqlite://{folder}/import.sqlite3")
        await open_database(settings)
        pool = NormalizePool(settings.normalize_workers) if settings.normalize_workers else None
        try:
            workspace = await create_workspace("bench", plan=Plan.ENTERPRISE)
            member = await add_member(workspace, "alice@acme-corp.com")
            box = await import_mailbox(member)
            start = time.perf_counter()
            report = await import_sources(
                Intake(settings.limits, pool), box, [Source(Kind.MBOX, path)]
            )
            return report.new / (time.perf_counter() - start)
        finally:
            if pool is not None:
                pool.close()
            await close_database()


async def idle_latency(
    settings: Settings, mailbox: Mailbox, server: Dovecot, samples: int
) -> list[float]:
    """Seconds from the end of an APPEND to the message being stored, while Mailroom idles."""
    task = asyncio.create_task(MailboxSync(mailbox.id, settings, Intake(settings.limits)).forever())
    delays = []
    try:
        while (await Mailbox.get(id=mailbox.id)).status is not MailboxStatus.ACTIVE:
            await asyncio.sleep(0.05)
        for n in range(samples):
            await asyncio.sleep(0.5)  # back in IDLE
            raw = (
                b"Message-ID: <idle-%d@bench>\r\nFrom: j@globex.com\r\nSubject: ping\r\n\r\nhi\r\n"
                % n
            )
            await asyncio.to_thread(server.append, [raw])
            appended = time.perf_counter()
            while not await Message.filter(internet_message_id=f"idle-{n}@bench").exists():
                await asyncio.sleep(0.01)
            delays.append(time.perf_counter() - appended)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return delays


async def run(args: argparse.Namespace, server: Dovecot) -> tuple[float, int, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite://{folder}/bench.sqlite3",
            secret_key=new_key(),
            imap_allow_private_hosts=True,
            imap_poll_interval=600,
        )
        await open_database(settings)
        try:
            rate, stored, mailbox = await mailroom_sync(
                settings, server.port, server.user, server.password
            )
            delays = await idle_latency(settings, mailbox, server, args.idle_samples)
        finally:
            await close_database()
    return rate, stored, delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--idle-samples", type=int, default=20)
    args = parser.parse_args()
    with Dovecot("bench", "bench-password") as server:
        start = time.perf_counter()
        server.append(messages(args.messages))
        print(
            f"appended {args.messages:,} messages in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        rate_a = bare_fetch(server.port, server.user, server.password)
        print(f"(a) bare imapclient fetch: {rate_a:,.0f} msg/s", flush=True)
        rate_b, stored, delays = asyncio.run(run(args, server))
    ratio, idle = rate_b / rate_a, statistics.median(delays)
    print(f"(b) Mailroom first sync: {rate_b:,.0f} msg/s ({stored:,}); IDLE median {idle:.2f} s")
    rate_c = asyncio.run(import_rate(args.messages))
    print(f"(c) Mailroom import of the same messages: {rate_c:,.0f} msg/s")
    fetch_verdict = "met" if ratio >= TARGET_RATIO else "NOT met (see below)"
    idle_verdict = "met" if idle < TARGET_IDLE else "NOT met"
    body = (
        f"A Dovecot folder of {args.messages:,} seeded synthetic messages (bench/corpus.py), "
        f"APPENDed; both read it in batches of {BATCH} UIDs over plain IMAP on loopback. "
        "(c) imports the same messages from an mbox in the same run: the rate of Mailroom's "
        "storing and processing alone, which caps (b).\n\n"
        "| measure | result | target |\n|---|---|---|\n"
        f"| (a) bare imapclient, UID FETCH BODY.PEEK[] | {rate_a:,.0f} msg/s | baseline |\n"
        f"| (b) Mailroom first sync into SQLite | {rate_b:,.0f} msg/s | |\n"
        f"| (b)/(a) | **{ratio:.2f}** | >= {TARGET_RATIO}: {fetch_verdict} |\n"
        f"| (c) Mailroom import of the same messages (mbox) | {rate_c:,.0f} msg/s | |\n"
        f"| (b)/(c) | **{rate_b / rate_c:.2f}** | >= {TARGET_OF_IMPORT}: "
        f"{'met' if rate_b / rate_c >= TARGET_OF_IMPORT else 'NOT met'} |\n"
        f"| APPEND to stored, Mailroom in IDLE (median of {len(delays)}) | {idle:.2f} s "
        f"(max {max(delays):.2f} s) | < {TARGET_IDLE:.0f} s: {idle_verdict} |\n\n"
        "Why (b)/(a) cannot reach 0.5 here: fetching from a Dovecot on loopback only moves "
        "bytes, while every message synced is also parsed, deduplicated, threaded, resolved and "
        "committed; on this 2-core machine that work tops out at the import rate (c), a fraction "
        "of (a). Against a remote server, where (a) is bound by the network, the ratio rises "
        "accordingly; (b)/(c) shows how much of Mailroom's own ceiling the sync reaches.\n"
    )
    write_section("imap (bench/imap.py)", body)
    print(body)


if __name__ == "__main__":
    main()
