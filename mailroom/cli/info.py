"""`mailroom info` and `mailroom --version`: which Mailroom this is, and what it would use."""

from __future__ import annotations

from rich.text import Text

from mailroom.cli.common import out, run


def version() -> str:
    from importlib.metadata import version as installed

    return installed("mailroom")


def info() -> None:
    """Print the version, database, data folder, ports and mail domain the settings name.

    It opens no database and makes nothing: run it wherever a command would run.

    Example: mailroom info

    Settings: MAILROOM_CONFIG, MAILROOM_DATA_DIR, MAILROOM_DATABASE_URL, MAILROOM_HTTP_HOST,
    MAILROOM_HTTP_PORT, MAILROOM_HTTP_WORKERS, MAILROOM_SMTP_ENABLED, MAILROOM_SMTP_HOST,
    MAILROOM_SMTP_PORT, MAILROOM_MAIL_DOMAIN, MAILROOM_IMAP_ENABLED.
    """
    from mailroom.db import sqlite_path, where
    from mailroom.settings import Settings

    async def work(settings: Settings) -> list[tuple[str, str]]:
        database = where(settings)
        if settings.is_sqlite and not sqlite_path(settings).exists():
            database += " (not made yet)"
        smtp = f"{settings.smtp_host}:{settings.smtp_port}" if settings.smtp_enabled else "off"
        return [
            ("version", version()),
            ("database", database),
            ("data folder", str(settings.data_dir.absolute())),
            ("API", f"http://{settings.http_host}:{settings.http_port}/graphql"),
            ("API processes", str(settings.http_workers)),
            ("SMTP", smtp),
            ("mail domain", settings.mail_domain),
            ("IMAP sync", "on" if settings.imap_enabled else "off"),
        ]

    for name, value in run(work, with_database=False):
        out.print(Text(f"{name:<13} {value}"), soft_wrap=True)
