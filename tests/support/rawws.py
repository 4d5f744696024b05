"""A deliberately minimal WebSocket client (RFC 6455) over a plain socket, for attacks: it sends
any frame, valid or not (invalid UTF-8, unmasked, reserved bits, lying lengths, fragments), and
reads the agent's frames one by one without any library interpreting them first."""

from __future__ import annotations

import base64
import os
import socket
import struct
from dataclasses import dataclass

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def _xor(payload: bytes, mask: bytes) -> bytes:
    """``payload`` masked with the 4-byte ``mask`` (RFC 6455 section 5.3), fast for large payloads."""
    if not payload:
        return b""
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


class Closed(Exception):
    """The agent closed the TCP connection."""


@dataclass
class Frame:
    opcode: int
    payload: bytes

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", errors="replace")

    @property
    def close_code(self) -> int | None:
        return struct.unpack("!H", self.payload[:2])[0] if self.opcode == CLOSE and len(self.payload) >= 2 else None

    @property
    def close_reason(self) -> str:
        return self.payload[2:].decode("utf-8", errors="replace") if self.opcode == CLOSE else ""


class RawWebSocket:
    def __init__(self, port: int, origin: str, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /bridge HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\nConnection: Upgrade\r\n"
            f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n".encode()
        )
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._recv()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.decode(errors="replace"))

    def _recv(self) -> bytes:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise Closed()
        return chunk

    def _take(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._buffer += self._recv()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    @staticmethod
    def frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True, rsv: int = 0,
              length: int | None = None) -> bytes:
        """One frame's bytes; ``length`` announces another payload length than the real one."""
        first = (0x80 if fin else 0) | (rsv << 4) | opcode
        size = len(payload) if length is None else length
        mask_bit = 0x80 if masked else 0
        if size < 126:
            header = struct.pack("!BB", first, mask_bit | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", first, mask_bit | 126, size)
        else:
            header = struct.pack("!BBQ", first, mask_bit | 127, size)
        if not masked:
            return header + payload
        mask = os.urandom(4)
        return header + mask + _xor(payload, mask)

    def send(self, opcode: int, payload: bytes, **options: object) -> None:
        self.sock.sendall(self.frame(opcode, payload, **options))  # type: ignore[arg-type]

    def send_text(self, text: str | bytes) -> None:
        self.send(TEXT, text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else text)

    def receive(self, timeout: float | None = None) -> Frame:
        """The next frame (pings are answered and skipped)."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        while True:
            first, second = self._take(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._take(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._take(8))[0]
            mask = self._take(4) if second & 0x80 else b""
            payload = self._take(size)
            if mask:
                payload = _xor(payload, mask)
            opcode = first & 0x0F
            if opcode == PING:
                self.send(PONG, payload)
                continue
            return Frame(opcode, payload)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> RawWebSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
