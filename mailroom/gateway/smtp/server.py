"""The receiver: aiosmtpd's SMTP protocol, created on the running event loop, with the limits
aiosmtpd does not have (connections per client, commands before DATA) and its own limit
replies worded with enhanced status codes."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import Any

from aiosmtpd.smtp import SMTP

from mailroom.gateway.smtp.handler import GatewayHandler
from mailroom.gateway.smtp.replies import Reply, translate
from mailroom.settings import Settings

log = logging.getLogger(__name__)
# `<local@domain>` with a dot-atom local part and domain, nothing that needs the full parser.
_PLAIN_PATH = re.compile(
    r"\s*<([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>"
)


class GatewaySMTP(SMTP):
    """One connection."""

    def __init__(
        self,
        handler: GatewayHandler,
        *,
        open_connections: Counter[str],
        settings: Settings,
        **options: Any,
    ) -> None:
        super().__init__(handler, **options)
        self._open = open_connections
        self._per_client = settings.smtp_max_connections_per_client
        self._max_commands = settings.smtp_max_commands_before_data
        self._commands = 0
        self._client: str | None = None
        # Every command passes through `_counted` (wraps keeps the attributes HELP reads).
        self._smtp_methods = {
            name: self._counted(name, method) for name, method in self._smtp_methods.items()
        }

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._client is None:  # not the STARTTLS upgrade of an open connection
            peer = transport.get_extra_info("peername")
            client = str(peer[0]) if peer else "unknown"
            if self._open[client] >= self._per_client:
                log.warning("refused connection from %s: %d already open", client, self._per_client)
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(Reply.TOO_MANY_CONNECTIONS.value.encode() + b"\r\n")
                transport.close()
                return
            self._client = client
            self._open[client] += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._client is None:
            return  # refused in connection_made
        self._open[self._client] -= 1
        if self._open[self._client] <= 0:
            del self._open[self._client]
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        if self._client is None:
            return False
        result: bool | None = super().eof_received()
        return result

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parsing (the stdlib's RFC 5322 parser) without the class it
        defines on every call, and with a shortcut for the plain `<local@domain>` that nearly
        every client sends: together they cost more than the rest of MAIL and RCPT
        (bench/smtp.py). Anything else takes the full parser."""
        if not arg:
            return "", ""
        plain = _PLAIN_PATH.match(arg)
        if plain and (not self.local_part_limit or len(plain[1]) <= self.local_part_limit):
            return f"{plain[1]}@{plain[2]}", arg[plain.end() :]
        parse = get_angle_addr if arg.lstrip().startswith("<") else get_addr_spec
        try:
            address, rest = parse(arg)
        except HeaderParseError:
            return None, None
        spec: str = address.addr_spec
        if self.local_part_limit and len(spec.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return spec, str(rest)

    def _timeout_cb(self) -> None:
        """aiosmtpd closes an idle connection without a word; RFC 5321 (4.5.3.2) has the server
        say why first."""
        if isinstance(self.transport, asyncio.WriteTransport) and not self.transport.is_closing():
            self.transport.write(Reply.IDLE.format(hostname=self.hostname).encode() + b"\r\n")
        super()._timeout_cb()  # type: ignore[no-untyped-call]

    async def push(self, status: str) -> None:  # type: ignore[override]
        await super().push(translate(status))

    def _counted(
        self, name: str, method: Callable[[str | None], Awaitable[None]]
    ) -> Callable[[str | None], Awaitable[None]]:
        @functools.wraps(method)
        async def counted(arg: str | None) -> None:
            if name == "DATA":
                self._commands = 0
            else:
                self._commands += 1
                if self._commands > self._max_commands:
                    await self.push(Reply.TOO_MANY_COMMANDS.value)
                    if self.transport is not None:
                        self.transport.close()
                    return
            await method(arg)

        return counted


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.smtp_tls_cert_file is None or settings.smtp_tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.smtp_tls_cert_file, settings.smtp_tls_key_file)
    return context


async def start_smtp_server(settings: Settings, handler: GatewayHandler) -> asyncio.Server:
    """Listen on the running loop (aiosmtpd's Controller runs its own loop in a thread, and
    its unthreaded variant cannot start inside a running loop, so the server is made here)."""
    open_connections: Counter[str] = Counter()
    context = tls_context(settings)
    hostname = settings.smtp_hostname or settings.mail_domain

    def factory() -> GatewaySMTP:
        return GatewaySMTP(
            handler,
            open_connections=open_connections,
            settings=settings,
            hostname=hostname,
            ident="Mailroom",
            data_size_limit=settings.smtp_max_message_bytes,
            enable_SMTPUTF8=True,
            tls_context=context,
            timeout=settings.smtp_idle_timeout,
            loop=loop,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host=settings.smtp_host, port=settings.smtp_port)
    log.info(
        "SMTP gateway listening on %s", ", ".join(str(s.getsockname()) for s in server.sockets)
    )
    return server
