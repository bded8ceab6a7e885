"""Small real servers on 127.0.0.1 for the senders to talk to: an SMTP server and a webhook receiver, each recording
what reached it and answering as a test tells it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self


class LocalServer:
    """A TCP server on a free port of 127.0.0.1 for the life of an `async with`; `_session` serves a connection."""

    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


@dataclass
class SmtpServer(LocalServer):
    """Speaks enough SMTP for smtplib; refuses (550) the recipients `refuse` says no to; keeps every delivered mail
    and every RCPT it was asked for."""

    refuse: Callable[[str], bool]
    delivered: list[bytes] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()
        await say("220 test ESMTP")
        while line := (await reader.readline()).decode(errors="replace").rstrip("\r\n"):
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                await say("250 test")
            elif verb == "RCPT":
                address = line.split(":", 1)[1].strip().strip("<>")
                self.recipients.append(address)
                await say("550 no such mailbox" if self.refuse(address) else "250 ok")
            elif verb == "DATA":
                await say("354 go on")
                body = bytearray()
                while (chunk := await reader.readline()) not in (b".\r\n", b""):
                    body += chunk
                self.delivered.append(bytes(body))
                await say("250 queued")
            elif verb == "QUIT":
                await say("221 bye")
                break
            else:
                await say("250 ok")
        writer.close()


@dataclass
class WebhookServer(LocalServer):
    """Answers each POST with the status `answer(body)` gives; keeps every body it was sent."""

    answer: Callable[[bytes], int]
    received: list[bytes] = field(default_factory=list)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        body = await reader.readexactly(length)
        self.received.append(body)
        status = self.answer(body)
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()
