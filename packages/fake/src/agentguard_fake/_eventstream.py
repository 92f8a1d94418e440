"""AWS event-stream framing, the binary body of Bedrock's ``invoke-with-response-stream``.

One frame: a 12-byte prelude (total length, headers length, CRC32 of those 8 bytes), the
headers (name length, name, type 7 = string, value length, value), the payload and a
CRC32 of everything before it; integers are big-endian. Bedrock wraps each Messages
stream event as a ``chunk`` event whose payload is ``{"bytes": "<base64 of the event>"}``,
and a failure as an ``exception`` frame whose payload is ``{"message": ...}``.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Mapping
from typing import Final

CONTENT_TYPE: Final = "application/vnd.amazon.eventstream"
"""The media type of an event-stream body."""
_STRING: Final = 7


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(raw_name))
        + raw_name
        + struct.pack(">BH", _STRING, len(raw_value))
        + raw_value
    )


def frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    raw_headers = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    lengths = struct.pack(">II", total, len(raw_headers))
    prelude = lengths + struct.pack(">I", zlib.crc32(lengths))
    body = prelude + raw_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def chunk(event: Mapping[str, object]) -> bytes:
    """A Messages stream event (``message_start``, ...) as Bedrock sends it."""
    raw = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    payload = json.dumps({"bytes": base64.b64encode(raw).decode()}).encode()
    headers = {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return frame(headers, payload)


def exception(exception_type: str, message: str) -> bytes:
    """A failure in the middle of a stream, e.g. ``throttlingException``."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, json.dumps({"message": message}).encode())
