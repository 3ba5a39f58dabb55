"""Fixtures of the job tests: an emptied, open PostgreSQL (jobs run on PostgreSQL only), with
a secret key and private IMAP hosts allowed for the test servers, and a Dovecot of the test's
own (its log tells whose sessions overlapped)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mailroom.db import close_database, open_database
from mailroom.settings import Settings
from mailroom.vault import new_key
from tests.conftest import empty_postgres
from tests.sources.imap.services import DovecotServer


@pytest.fixture
async def pg_db(
    postgres_url: str, model_tables: list[str], tmp_path: Path
) -> AsyncIterator[Settings]:
    await empty_postgres(postgres_url, model_tables)
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=postgres_url,
        secret_key=new_key(),
        imap_allow_private_hosts=True,
        normalize_workers=0,
    )
    await open_database(settings)
    try:
        yield settings
    finally:
        await close_database()


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    server = DovecotServer()
    try:
        server.start()
        yield server
    finally:
        server.close()
