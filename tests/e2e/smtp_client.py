"""A raw SMTP client for attacks smtplib will not make: DATA left unterminated, a connection
dropped mid-message, a second STARTTLS. Blocking; tests run it in a thread, since the
receiver under test runs on the test's event loop."""

from __future__ import annotations

import socket
import ssl

from tests.helpers import message


class RawSession:
    """One connection; `reply` reads a whole (multiline) reply."""

    def __init__(self, port: int, timeout: float = 30.0, source: str = "127.0.0.1") -> None:
        # `source`: another loopback address (127.0.0.2, ...) is another client host.
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
        )
        self._buffer = b""
        try:
            self.banner = self.reply()
        except BaseException:
            self.sock.close()
            raise

    def reply(self) -> tuple[int, str]:
        lines: list[str] = []
        while True:
            line = self._line()
            lines.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), "\n".join(lines)

    def command(self, line: str) -> tuple[int, str]:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def start_tls(self, context: ssl.SSLContext) -> tuple[int, str]:
        answer = self.command("STARTTLS")
        if answer[0] == 220:
            self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        return answer

    def start_data(self, mail_from: str, to: str) -> None:
        """EHLO, MAIL, RCPT and DATA, each accepted."""
        assert self.command("EHLO client.example")[0] == 250
        assert self.command(f"MAIL FROM:<{mail_from}>")[0] == 250
        assert self.command(f"RCPT TO:<{to}>")[0] == 250
        assert self.command("DATA")[0] == 354

    def end_data(self) -> tuple[int, str]:
        self.send(b".\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()

    def _line(self) -> str:
        while b"\r\n" not in self._buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed by the server after {self._buffer!r}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line.decode()


def wire_message(sender: str, message_id: str, size: int) -> bytes:
    """A message of about `size` bytes as it goes on the wire in DATA (CRLF, dot-stuffed, no
    final dot): 98-character body lines."""
    head = message(sender=sender, message_id=message_id, body="x\n").replace(b"\n", b"\r\n")
    lines = max(0, (size - len(head)) // 100)
    return head + (b"y" * 98 + b"\r\n") * lines
