"""Typed settings, read once from `MAILROOM_*` environment variables and an optional TOML file.

Precedence, highest first: explicit arguments, environment variables, the TOML file named by
`MAILROOM_CONFIG` (keys are the field names, e.g. `http_port = 8080`), the defaults below.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mailroom.errors import SettingsError
from mailroom.logs import LogFormat
from mailroom.parsing.limits import Limits


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Settings(BaseSettings):
    """Everything an operator can configure."""

    model_config = SettingsConfigDict(env_prefix="MAILROOM_", extra="ignore")

    data_dir: Path = Path("mailroom-data")
    # Tortoise URL form: sqlite://PATH or postgres://user:pass@host:port/db. Empty means
    # SQLite in data_dir.
    database_url: str = ""
    # Show tracebacks of unexpected errors instead of one line.
    debug: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Processes that answer the API, on the one port: `serve` runs everything else (SMTP, the
    # pollers, ingest, the background work) in the first of them only. One Python process
    # uses one core; default: one per core this process may run on. 1: a single process.
    http_workers: int = Field(default_factory=lambda: _cores(), ge=1, le=64)
    # `text` for a person, `json` (one object per line) for a log shipper (mailroom/logs.py).
    log_format: LogFormat = "text"
    # Prometheus metrics at /metrics, without a token (counts by fixed labels: no address, name
    # or error text): on the API's port, or, with metrics_port set, on a listener of their own
    # at metrics_host:metrics_port (and not on the API's port), for the operator's network.
    metrics_enabled: bool = True
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    # The forwarding gateway (SMTP). Workspace addresses are SLUG@mail_domain, a member's
    # personal one SLUG+TOKEN@mail_domain.
    smtp_enabled: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=0, le=65535)
    mail_domain: str = "mailroom.localhost"
    smtp_hostname: str = ""  # the name the receiver greets with; default: mail_domain
    smtp_max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    smtp_max_recipients: int = Field(default=50, gt=0)
    smtp_max_hops: int = Field(default=50, gt=0)  # Received headers; more is a mail loop
    smtp_max_commands_before_data: int = Field(default=100, gt=0)
    smtp_max_connections_per_client: int = Field(default=20, gt=0)
    smtp_messages_per_sender_per_minute: int = Field(default=120, gt=0)
    smtp_idle_timeout: float = Field(default=300.0, gt=0)
    # Limits against floods and memory exhaustion: connections open at once (from all clients),
    # messages accepted per client per minute (an IPv4 address or an IPv6 /64), and message
    # bytes held in memory across all connections while they arrive (a message past it is
    # refused for now with 452 4.3.1; at least smtp_max_message_bytes).
    smtp_max_connections: int = Field(default=500, gt=0)
    smtp_messages_per_client_per_minute: int = Field(default=600, gt=0)
    smtp_max_bytes_in_flight: int = Field(default=128 * 1024 * 1024, gt=0)
    # STARTTLS is offered when both are set.
    smtp_tls_cert_file: Path | None = None
    smtp_tls_key_file: Path | None = None
    # Refuse mail (530 5.7.0) until the client has sent STARTTLS; needs the two files above.
    smtp_require_tls: bool = False
    # Relays whose Authentication-Results headers are believed: the networks they connect from
    # and the authserv-id they write. Both must match.
    trusted_relay_networks: list[str] = Field(default_factory=list)
    trusted_authserv_ids: list[str] = Field(default_factory=list)
    # DNS servers for DKIM and SPF lookups ("host" or "host:port"); empty: the system's.
    dns_nameservers: list[str] = Field(default_factory=list)

    # Mailbox credentials are encrypted with this key (Fernet: 32 random bytes, URL-safe
    # base64; `mailroom secret-key` makes one). Without it no credential can be stored.
    # Several keys, comma-separated, rotate it: the first encrypts, every one decrypts.
    secret_key: str | None = None

    # IMAP sync.
    imap_enabled: bool = True  # `serve` keeps IMAP mailboxes in sync
    imap_allow_private_hosts: bool = False
    imap_poll_interval: float = Field(default=60.0, gt=0)  # folders, and servers without IDLE
    imap_idle_renew: float = Field(default=25 * 60.0, gt=0, le=29 * 60.0)  # RFC 2177: < 29 min
    # One step of a session (connecting and logging in is one; each command another), by the
    # wall clock; a fetch earns a second more for every 64 KiB it receives.
    imap_timeout: float = Field(default=60.0, gt=0)
    imap_stuck_after: float = Field(default=900.0, gt=0)  # one sync pass, before it restarts
    imap_batch_size: int = Field(default=500, gt=0, le=2000)  # FETCHes also stop at batch bytes
    imap_max_backoff: float = Field(default=900.0, gt=0)
    # One FETCH's messages, at most (one message over it is fetched alone); with the message
    # size limit, it also sizes what one answer from a server may take.
    imap_batch_bytes: int = Field(default=32 * 1024 * 1024, gt=0)

    # Where people reach this Mailroom from their browser: OAuth providers send them back to
    # PUBLIC_URL + /oauth/callback (register that redirect URI with Google and Microsoft).
    public_url: str = "http://127.0.0.1:8000"

    # Google accounts (Gmail now, Google Calendar later): the OAuth client of a Google Cloud
    # project, and Google's endpoints (tests point them at local servers).
    google_client_id: str | None = None
    google_client_secret: str | None = None
    google_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    google_revoke_url: str = "https://oauth2.googleapis.com/revoke"
    gmail_api_url: str = "https://gmail.googleapis.com"
    gmail_enabled: bool = True  # `serve` keeps Gmail mailboxes in sync
    gmail_poll_seconds: float = Field(default=60.0, gt=0)  # history.list, for new mail
    # Gmail's quota: units per user per minute (6,000 for new projects, 15,000 for older ones),
    # and what each method costs (messages.get 5, or 20 under the 2026 pricing).
    gmail_quota_per_minute: int = Field(default=6000, gt=0)
    gmail_cost_messages_get: int = Field(default=5, gt=0)
    gmail_cost_messages_list: int = Field(default=5, gt=0)
    gmail_cost_history_list: int = Field(default=2, gt=0)
    gmail_cost_get_profile: int = Field(default=1, gt=0)
    gmail_timeout: float = Field(default=60.0, gt=0)  # one HTTP request
    gmail_max_backoff: float = Field(default=900.0, gt=0)

    # Microsoft 365 work or school accounts (Outlook mail now, its calendar later): an app
    # registration in Microsoft Entra, the tenant (`organizations`: any work or school tenant;
    # or one tenant's id), and Microsoft's endpoints (tests point them at local servers).
    microsoft_client_id: str | None = None
    microsoft_client_secret: str | None = None
    microsoft_login_url: str = "https://login.microsoftonline.com"
    microsoft_tenant: str = "organizations"
    graph_api_url: str = "https://graph.microsoft.com"
    graph_enabled: bool = True  # `serve` keeps Microsoft 365 mailboxes in sync
    graph_poll_seconds: float = Field(default=60.0, gt=0)  # the delta links, for new mail
    # Outlook serves at most 4 concurrent requests per mailbox (MailboxConcurrency).
    graph_concurrency: int = Field(default=4, ge=1, le=4)
    graph_page_size: int = Field(default=1000, ge=1, le=1000)  # Prefer: odata.maxpagesize
    graph_timeout: float = Field(default=60.0, gt=0)  # one HTTP request
    graph_max_backoff: float = Field(default=900.0, gt=0)

    # Calendars (Google Calendar and Outlook beside their mail, CalDAV, invitations, .ics
    # files): the window a first sync covers, days back and ahead of now; the most attendees an
    # event may have and still make records (an all-hands is no relationship); the most
    # occurrences one recurring event expands to (an RRULE may never end).
    calendar_enabled: bool = True
    calendar_days_back: int = Field(default=730, ge=0, le=36500)
    calendar_days_ahead: int = Field(default=365, ge=1, le=3650)
    calendar_max_attendees: int = Field(default=50, ge=0)
    calendar_max_occurrences: int = Field(default=1000, ge=1, le=100_000)
    calendar_poll_seconds: float = Field(default=300.0, gt=0)
    google_calendar_api_url: str = "https://www.googleapis.com"
    # CalDAV calendars (`mailbox add-caldav`): `serve` keeps them in sync every
    # calendar_poll_seconds; one HTTP request's timeout; private hosts (a server on this
    # machine or its network) are refused unless allowed here or by `--allow-private-host`.
    caldav_enabled: bool = True
    caldav_timeout: float = Field(default=60.0, gt=0)
    caldav_max_backoff: float = Field(default=900.0, gt=0)
    caldav_allow_private_hosts: bool = False

    # `mailroom worker` (PostgreSQL only): jobs it runs at once; how often it tells the database
    # it is alive, and after how long without that its jobs are taken up by other workers (a
    # killed worker's); how long a stopping worker waits for its jobs before it aborts them.
    jobs_concurrency: int = Field(default=10, ge=1, le=1000)
    jobs_heartbeat_seconds: float = Field(default=10.0, gt=0)
    jobs_stalled_after: float = Field(default=30.0, gt=0)
    jobs_shutdown_timeout: float = Field(default=60.0, gt=0)
    # A receiver (`serve --smtp`) processes what it stores within seconds; messages pending
    # longer were left by one that stopped after its `250`, and the workers process them.
    jobs_stranded_after: float = Field(default=60.0, gt=0)

    # Relationship intelligence: the lowest connection score of each strength level (README.md,
    # "Relationship intelligence", gives the reasoning and the histories each level means), and
    # how often `serve` counts the meetings whose time has come.
    strength_very_weak: float = Field(default=0.1, gt=0)
    strength_weak: float = Field(default=1.0, gt=0)
    strength_moderate: float = Field(default=3.0, gt=0)
    strength_strong: float = Field(default=8.0, gt=0)
    strength_very_strong: float = Field(default=20.0, gt=0)
    settle_seconds: float = Field(default=60.0, gt=0)

    # The GraphQL API. GraphiQL and introspection are for development (`make run` turns them
    # on); production settings leave them off.
    graphiql: bool = False
    graphql_introspection: bool = False
    api_requests_per_minute: int = Field(default=600, gt=0)  # per token
    graphql_max_depth: int = Field(default=12, gt=0)
    graphql_max_aliases: int = Field(default=20, gt=0)
    graphql_max_tokens: int = Field(default=3000, gt=0)
    graphql_max_cost: int = Field(default=50_000, gt=0)
    # Field selections once fragments are spread (a few kilobytes of fragments can expand to
    # millions of fields).
    graphql_max_fields: int = Field(default=2000, gt=0)
    # A request's body (the query and its variables), refused above this before it is parsed.
    api_max_request_bytes: int = Field(default=1024 * 1024, gt=0)
    # How long one request may take before it is stopped with an error.
    api_request_timeout: float = Field(default=30.0, gt=0)
    # Email bodies (text and HTML) one response may carry; past it, bodies are refused with an
    # error that asks for fewer (a page of 100 emails of 2 MB each would be 400 MB).
    api_max_response_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)

    max_message_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_headers: int = Field(default=Limits.max_headers, gt=0)
    max_header_length: int = Field(default=Limits.max_header_length, gt=0)
    max_mime_parts: int = Field(default=Limits.max_parts, gt=0)
    max_mime_depth: int = Field(default=Limits.max_depth, gt=0)

    # Messages per ingest transaction (an import's batches also stop at 32 MB): larger batches
    # amortise the commit's fsync, smaller ones bound memory and the work a crash repeats.
    ingest_batch_size: int = Field(default=500, gt=0, le=5000)
    # Processes that parse messages beside the one that stores them; 0 parses in-process.
    # Default: one per core but the one the storing process needs (measured best on 2 cores).
    normalize_workers: int = Field(
        default_factory=lambda: max(0, (os.cpu_count() or 1) - 1), ge=0, le=64
    )
    # Seconds one message may take to parse. Past it the worker is killed and the message is
    # kept, read from its header block alone, with a defect. `serve` always parses in worker
    # processes (at least one, whatever normalize_workers says) so that this can be enforced.
    parse_timeout: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite://{self.data_dir / 'mailroom.sqlite3'}"
        return self

    @model_validator(mode="after")
    def _heartbeats_before_stalling(self) -> Settings:
        if self.jobs_stalled_after < 2 * self.jobs_heartbeat_seconds:
            raise ValueError(
                f"jobs_stalled_after ({self.jobs_stalled_after:g} s) must be at least twice "
                f"jobs_heartbeat_seconds ({self.jobs_heartbeat_seconds:g} s): a live worker's "
                "jobs would be taken from it"
            )
        return self

    @model_validator(mode="after")
    def _levels_increase(self) -> Settings:
        floors = [
            self.strength_very_weak,
            self.strength_weak,
            self.strength_moderate,
            self.strength_strong,
            self.strength_very_strong,
        ]
        if any(a >= b for a, b in zip(floors, floors[1:], strict=False)):
            raise ValueError(
                "strength_very_weak, strength_weak, strength_moderate, strength_strong and "
                f"strength_very_strong must increase, in that order; they are {floors}"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite://")

    @property
    def limits(self) -> Limits:
        return Limits(
            max_bytes=self.max_message_bytes,
            max_headers=self.max_headers,
            max_header_length=self.max_header_length,
            max_parts=self.max_mime_parts,
            max_depth=self.max_mime_depth,
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        # The one environment read outside this class's fields: which file to read them from.
        config_file = os.environ.get("MAILROOM_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Read settings; a missing or malformed config file, or one with a key that is no setting,
    is a `SettingsError`."""
    config_file = os.environ.get("MAILROOM_CONFIG")
    if config_file:
        if not Path(config_file).is_file():
            raise SettingsError(f"MAILROOM_CONFIG names {config_file}, which is not a file")
        _check_keys(Path(config_file))
    try:
        return Settings(**overrides)
    except ValueError as error:
        raise SettingsError(_first_line(error)) from error


def _check_keys(path: Path) -> None:
    """Refuse a key that is no setting: a misspelt one would otherwise be ignored, and the
    default used in silence."""
    try:
        with path.open("rb") as file:
            keys = list(tomllib.load(file))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"cannot read the config file {path}: {error}") from error
    known = list(Settings.model_fields)
    for key in keys:
        if key not in known:
            nearest = difflib.get_close_matches(key.lower(), known, n=1)
            hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
            raise SettingsError(f"{path}: {key!r} is not a setting{hint}")


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "invalid settings: " + "; ".join(lines[1:3] if len(lines) > 1 else lines)
