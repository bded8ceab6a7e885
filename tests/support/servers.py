"""Small real servers on 127.0.0.1 for the senders to talk to: an SMTP server and a webhook receiver, each recording
what reached it and answering as a test tells it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import orjson


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


class RecordingWebhook:
    """A webhook receiver in a thread of its own (so a test that blocks its event loop cannot stall it): answers
    200 to every POST and records each call, in order, with its idempotency key."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.raw: list[tuple[bytes, str | None]] = []  # each call's body as sent, and its X-OMS-Signature
        calls, raw = self.calls, self.raw

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                raw.append((body, self.headers.get("x-oms-signature")))
                calls.append({**orjson.loads(body), "idempotency_key": self.headers.get("idempotency-key")})
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/notifications"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingWebhook:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Patient(ThreadingHTTPServer):
    request_queue_size = 128  # a sender posting many at once is not refused


class WebhookReceiver:
    """A subscriber's endpoint in a thread of its own: keeps each POST's headers and body, and answers each with
    `answer(body)`."""

    def __init__(self, answer: Callable[[bytes], int] = lambda body: 200) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []  # what each post was answered
        posts, answers = self.posts, self.answers

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = answer(body)
                posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                answers.append(status)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = _Patient(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/oms"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
