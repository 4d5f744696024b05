"""The frames the bridge builds itself for ``jobs.updated`` (agent.bridge.connection.text_frame)
are byte for byte those aiohttp's own writer sends for the same text (RFC 6455 section 5.2), in
each of the three length encodings: a page cannot tell the fast path from the writer task."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import WSMsgType
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_websocket import WebSocketWriter

from agent.bridge.connection import JobUpdate, dumps, text_frame


class _Capture(asyncio.Transport):
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False


async def _aiohttp_frame(payload: bytes) -> bytes:
    transport = _Capture()
    protocol = BaseProtocol(asyncio.get_running_loop())
    protocol.connection_made(transport)
    writer = WebSocketWriter(protocol, transport, use_mask=False, compress=0)
    await writer.send_frame(payload, WSMsgType.TEXT)
    return bytes(transport.data)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 300_000])
async def test_text_frame_is_aiohttps_frame(size: int) -> None:
    payload = ("é" * size).encode("utf-8")[:size]
    assert text_frame(payload) == await _aiohttp_frame(payload)


async def test_a_job_update_is_one_frame_of_its_json() -> None:
    snapshot = {"id": "j1", "state": "running", "message": "Fichier 5 sur 8 : « offre.pdf »", "progress": 66}
    update = JobUpdate(snapshot)
    frame = update.frame()
    assert frame is update.frame()  # built once, shared by every page
    payload = update.payload()
    assert frame == await _aiohttp_frame(payload)
    assert json.loads(payload) == {"jsonrpc": "2.0", "method": "jobs.updated", "params": {"job": snapshot}}


def test_a_lone_surrogate_in_a_snapshot_is_still_valid_utf8() -> None:
    update = JobUpdate({"id": "j2", "message": "nom \ud800 coupé"})
    payload = update.payload()
    assert json.loads(payload.decode("utf-8"))["params"]["job"]["message"] == "nom \ud800 coupé"
    assert payload.decode("utf-8") == dumps(json.loads(payload))
