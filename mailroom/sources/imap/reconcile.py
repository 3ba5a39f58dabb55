"""Reconciling an IMAP mailbox: the UIDs of each synced folder (under its UIDVALIDITY) against
the provider items the mailbox holds, and with `repair`, fetching what is missing and removing
what is extra. The sync's cursors are left as they are: a repair fills holes below them."""

from __future__ import annotations

from mailroom.intake import Intake
from mailroom.intake.removal import remove_items
from mailroom.models import Mailbox, ProviderItem
from mailroom.sources.imap.client import ImapSession
from mailroom.sources.imap.folders import choose_folders
from mailroom.sources.imap.sync import incoming, item_key
from mailroom.sources.reconciliation import Reconciliation

BATCH = 200  # UIDs fetched at a time by a repair


async def reconcile_imap(
    mailbox: Mailbox, session: ImapSession, intake: Intake, *, repair: bool = False
) -> Reconciliation:
    provider, stored = 0, 0
    missing: list[str] = []
    extra: list[str] = []
    for folder in choose_folders(await session.folders()):
        state = await session.select(folder.name)
        at_server = {
            item_key(folder.name, state.uidvalidity, uid): uid for uid in await session.uids()
        }
        held = {
            str(item)
            for item in await ProviderItem.filter(
                mailbox_id=mailbox.id, folder=folder.name
            ).values_list("item", flat=True)
        }
        provider, stored = provider + len(at_server), stored + len(held)
        absent = [key for key in at_server if key not in held]
        missing.extend(absent)
        extra.extend(sorted(held - at_server.keys()))
        if repair:
            uids = sorted(at_server[key] for key in absent)
            for start in range(0, len(uids), BATCH):
                chunk = uids[start : start + BATCH]
                # As the sync does: a message over the size limit is fetched as its headers.
                sizes = await session.sizes(chunk)
                limit = session.max_message_bytes
                whole = [u for u in chunk if sizes.get(u, 0) <= limit]
                over = [u for u in chunk if sizes.get(u, 0) > limit]
                fetched = await session.fetch(whole) if whole else []
                fetched += await session.fetch(over, headers_only=True) if over else []
                await intake.ingest(mailbox, [incoming(folder, state, f) for f in fetched])
    if repair and extra:
        await remove_items(mailbox.workspace_id, mailbox.id, extra)
    return Reconciliation(provider, stored, tuple(missing), tuple(extra), repaired=repair)
