"""The frames between the agent's processes (agent.isolation, agent.fork_server): a 4-byte
big-endian length, then a pickle. Pickles are read from the agent's own processes only, never
from a file or a page: a worker from its caller, a caller from its worker, both of the same user.
"""

from __future__ import annotations

import pickle
import struct
from typing import IO, Any, Protocol

__all__ = ["FRAME_HEADER", "FrameSink", "read_frame", "write_frame"]

FRAME_HEADER = struct.Struct(">I")


class FrameSink(Protocol):
    """Where frames are written: a pipe, or the sending side of a socket."""

    def write(self, data: bytes, /) -> int | None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def write_frame(stream: FrameSink, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)  # before writing: never half a frame
    stream.write(FRAME_HEADER.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        raise EOFError
    (size,) = FRAME_HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 — frames come from our own worker or parent only
