"""The receiver: aiosmtpd's SMTP protocol, created on the running event loop, with the limits
aiosmtpd does not have (connections per client and in all, commands before DATA, message bytes
held in memory), its own replies worded with enhanced status codes, and without what aiosmtpd
offers that Mailroom has no use for (AUTH) or gets wrong (a second STARTTLS)."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import ssl
from collections.abc import Awaitable, Callable
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import Any

from aiosmtpd.smtp import SMTP, TLSSetupException, syntax

from mailroom.errors import SettingsError
from mailroom.settings import Settings
from mailroom.sources.smtp import journal
from mailroom.sources.smtp.connections import Connections, client_of
from mailroom.sources.smtp.data import read_data
from mailroom.sources.smtp.handler import GatewayHandler
from mailroom.sources.smtp.inflight import InFlight
from mailroom.sources.smtp.replies import Reply, stock

log = logging.getLogger(__name__)
# RFC 5321 (4.5.3.1.6): a line of text is at most 1,000 octets with its CRLF; aiosmtpd lets one
# more through, and so does Mailroom (lines that long were accepted before).
MAX_LINE = 1001
# `<local@domain>` with a dot-atom local part and domain, nothing that needs the full parser.
_PLAIN_PATH = re.compile(
    r"\s*<([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>"
)


class GatewaySMTP(SMTP):
    """One connection."""

    # aiosmtpd gives its stream reader this limit, and reads DATA line by line against it; DATA
    # is read here (`read_data`) in pieces of up to this size, checked against MAX_LINE. Command
    # lines keep aiosmtpd's own limits (512 bytes and its extensions'); a client can make a
    # connection buffer this much, twice, before its reads pause.
    line_length_limit = 64 * 1024

    def __init__(
        self,
        handler: GatewayHandler,
        *,
        connections: Connections,
        in_flight: InFlight,
        settings: Settings,
        **options: Any,
    ) -> None:
        super().__init__(handler, **options)
        self._connections = connections
        self._in_flight = in_flight
        self._max_commands = settings.smtp_max_commands_before_data
        self._commands = 0
        self._client: str | None = None  # the key this connection is counted under, if it is
        self._receiving = False  # reading DATA
        # Every command passes through `_counted` (wraps keeps the attributes HELP reads).
        self._smtp_methods = {
            name: self._counted(name, method) for name, method in self._smtp_methods.items()
        }

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._client is None:  # not the STARTTLS upgrade of an open connection
            client = client_of(transport.get_extra_info("peername"))
            refusal = self._connections.open(client)
            if refusal is not None:
                journal.refused(journal.Seen(client=client), refusal)
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(refusal.value.encode() + b"\r\n")
                transport.close()
                return
            self._client = client
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._client is None:
            # Refused in connection_made, or lost already: aiosmtpd also calls this itself
            # (after a failed TLS handshake), and a connection is counted out only once.
            return
        self._connections.close(self._client)
        self._client = None
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
        reply = Reply.TOO_SLOW if self._receiving else Reply.IDLE
        if isinstance(self.transport, asyncio.WriteTransport) and not self.transport.is_closing():
            self.transport.write(reply.format(hostname=self.hostname).encode() + b"\r\n")
        super()._timeout_cb()  # type: ignore[no-untyped-call]

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA, reading the message with `read_data`. The timer is not restarted by
        data lines, only by commands: the idle timeout bounds the whole of DATA, so a client
        trickling a message holds its bytes no longer than that."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        assert self.data_size_limit is not None  # always set (start_smtp_server)
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        with self._in_flight.claim(self._client or "") as claim:
            self._receiving = True
            try:
                received = await read_data(
                    self._reader,
                    claim,
                    max_bytes=self.data_size_limit,
                    max_line=MAX_LINE,
                )
            finally:
                self._receiving = False
            self._reset_timeout()  # the client now waits for us: admission may take a while
            try:
                if received.refusal is None:
                    self.envelope.content = self.envelope.original_content = received.content
                    status: str = await self._call_handler_hook("DATA")
                else:
                    status = journal.refused(self._seen(received.size), received.refusal)
            finally:
                # The message's bytes go, and then its claim.
                self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status)

    def _seen(self, size: int | None = None) -> journal.Seen:
        envelope = self.envelope
        return journal.Seen(
            client=self._client,
            mail_from=envelope.mail_from if envelope else None,
            recipients=len(envelope.rcpt_tos) if envelope and envelope.rcpt_tos else None,
            size=size,
        )

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:
        # aiosmtpd would start a handshake inside the TLS session, which fails with a traceback.
        if self._tls_protocol is not None:
            await self.push(Reply.TLS_ACTIVE.value)
            return
        await super().smtp_STARTTLS(arg)

    async def smtp_AUTH(self, arg: str) -> None:  # no `syntax`: HELP does not list it
        await self.push(Reply.NO_AUTH.value)

    async def handle_exception(self, error: Exception) -> str:
        """A failed TLS handshake is the client's doing: one line in the log, not a traceback
        (aiosmtpd then closes the connection without a reply)."""
        if isinstance(error, TLSSetupException):
            log.info("TLS handshake with %s failed: %s", self._client, error.__cause__)
            return ""
        status: str = await super().handle_exception(error)
        return status

    async def push(self, status: str) -> None:  # type: ignore[override]
        refusal = stock(status)
        if refusal is not None:  # aiosmtpd refused on its own: SIZE over the limit, TLS first
            status = journal.refused(self._seen(), refusal)
        await super().push(status)

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
                    await self.push(journal.refused(self._seen(), Reply.TOO_MANY_COMMANDS))
                    if self.transport is not None:
                        self.transport.close()
                    return
            await method(arg)

        return counted


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.smtp_tls_cert_file is None or settings.smtp_tls_key_file is None:
        if settings.smtp_require_tls:
            raise SettingsError(
                "MAILROOM_SMTP_REQUIRE_TLS needs a certificate: set MAILROOM_SMTP_TLS_CERT_FILE "
                "and MAILROOM_SMTP_TLS_KEY_FILE"
            )
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.smtp_tls_cert_file, settings.smtp_tls_key_file)
    return context


async def start_smtp_server(settings: Settings, handler: GatewayHandler) -> asyncio.Server:
    """Listen on the running loop (aiosmtpd's Controller runs its own loop in a thread, and
    its unthreaded variant cannot start inside a running loop, so the server is made here)."""
    context = tls_context(settings)
    if settings.smtp_max_bytes_in_flight < settings.smtp_max_message_bytes:
        raise SettingsError(
            "MAILROOM_SMTP_MAX_BYTES_IN_FLIGHT must be at least MAILROOM_SMTP_MAX_MESSAGE_BYTES, "
            "or a message of the largest size could never be taken"
        )
    connections = Connections(
        settings.smtp_max_connections_per_client, settings.smtp_max_connections
    )
    bound = settings.smtp_max_bytes_in_flight
    in_flight = InFlight(bound, share=max(settings.smtp_max_message_bytes, bound // 4))
    hostname = settings.smtp_hostname or settings.mail_domain

    def factory() -> GatewaySMTP:
        return GatewaySMTP(
            handler,
            connections=connections,
            in_flight=in_flight,
            settings=settings,
            hostname=hostname,
            ident="Mailroom",
            data_size_limit=settings.smtp_max_message_bytes,
            enable_SMTPUTF8=True,
            tls_context=context,
            require_starttls=settings.smtp_require_tls,
            timeout=settings.smtp_idle_timeout,
            loop=loop,
        )

    loop = asyncio.get_running_loop()
    host, port = settings.smtp_host, settings.smtp_port
    try:
        server = await loop.create_server(factory, host=host, port=port)
    except OSError as error:  # most often another process on the port: a second `serve`
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise SettingsError(
            f"cannot listen for SMTP on {host}:{port} (MAILROOM_SMTP_HOST, MAILROOM_SMTP_PORT): "
            f"{reason}"
        ) from error
    log.info(
        "SMTP gateway listening on %s", ", ".join(str(s.getsockname()) for s in server.sockets)
    )
    return server
