"""Plain-data messages between the judge and the worker.

Everything that crosses the process boundary is a JSON document whose leaves are
numbers, strings, booleans and None, with a few tagged forms: tuples, dicts,
tensors (dtype, shape and raw bytes) and a description of anything else. No
object is ever pickled, so a learner object cannot run code in the judge.

A frame is a 4-byte big-endian length followed by that many bytes of JSON.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from dataclasses import dataclass
from typing import Any

MAX_FRAME = 64 * 1024 * 1024  # a reply bigger than this is a broken or hostile worker
_HEADER = struct.Struct(">I")


@dataclass(frozen=True)
class Opaque:
    """A value the worker could not send as data: only its type and repr travel."""

    type_name: str
    text: str


class WireError(Exception):
    """A frame that is not a well-formed message."""


def _encode_tensor(t: Any) -> dict[str, Any]:
    import torch

    flat = t.detach().to("cpu").contiguous().reshape(-1)
    raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
    return {
        "dtype": str(t.dtype).removeprefix("torch."),
        "shape": list(t.shape),
        "data": base64.b64encode(raw).decode("ascii"),
        "requires_grad": bool(t.requires_grad),
        "device": t.device.type,
    }


def _describe(value: Any) -> dict[str, Any]:
    cls = type(value)
    try:
        text = repr(value)[:200]
    except BaseException:  # a learner's __repr__ may raise anything
        text = "<repr failed>"
    return {"__opaque__": [f"{cls.__module__}.{cls.__qualname__}", text]}


def to_data(value: Any, depth: int = 0) -> Any:
    """Turn a value into the JSON tree; anything unexpected becomes an Opaque description."""
    if depth > 50:
        return _describe(value)
    cls = type(value)
    if value is None or cls in (bool, int, float, str):
        return value
    if cls is list:
        return [to_data(v, depth + 1) for v in value]
    if cls is tuple:
        return {"__tuple__": [to_data(v, depth + 1) for v in value]}
    if cls is dict and all(type(k) is str for k in value):
        return {"__dict__": {k: to_data(v, depth + 1) for k, v in value.items()}}
    module = getattr(cls, "__module__", "")
    if module.startswith("torch"):
        import torch

        if cls is torch.Tensor:  # exact type: subclasses may lie about themselves
            return {"__tensor__": _encode_tensor(value)}
        if cls is torch.dtype:
            return {"__dtype__": str(value).removeprefix("torch.")}
        if cls is torch.device:
            return {"__device__": str(value)}
    return _describe(value)


def from_data(tree: Any) -> Any:
    """Inverse of to_data, building fresh plain objects (tensors are exact torch.Tensor)."""
    if isinstance(tree, list):
        return [from_data(v) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if len(tree) != 1:
        raise WireError("untagged mapping")
    ((tag, body),) = tree.items()
    if tag == "__tuple__":
        return tuple(from_data(v) for v in body)
    if tag == "__dict__":
        return {str(k): from_data(v) for k, v in body.items()}
    if tag == "__opaque__":
        return Opaque(str(body[0]), str(body[1]))
    import torch

    if tag == "__tensor__":
        dtype = getattr(torch, str(body["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise WireError(f"unknown dtype {body['dtype']!r}")
        raw = bytearray(base64.b64decode(body["data"]))
        shape = [int(n) for n in body["shape"]]
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        t = flat.reshape(shape).clone()
        if body.get("requires_grad") and t.is_floating_point():
            t.requires_grad_(True)
        return t
    if tag == "__dtype__":
        return getattr(torch, str(body))
    if tag == "__device__":
        return torch.device(str(body))
    raise WireError(f"unknown tag {tag!r}")


def dumps(message: dict[str, Any]) -> bytes:
    payload = json.dumps(message, allow_nan=True).encode()
    return _HEADER.pack(len(payload)) + payload


def write_frame(fd: int, message: dict[str, Any]) -> None:
    view = memoryview(dumps(message))
    while view:
        view = view[os.write(fd, view) :]


class FrameReader:
    """Accumulates bytes from a non-blocking source and yields complete messages."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        self._buffer += chunk
        messages = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME:
                raise WireError(f"frame of {size} bytes is over the limit")
            if len(self._buffer) < _HEADER.size + size:
                break
            payload = bytes(self._buffer[_HEADER.size : _HEADER.size + size])
            del self._buffer[: _HEADER.size + size]
            try:
                message = json.loads(payload)
            except ValueError as exc:
                raise WireError("frame is not JSON") from exc
            if not isinstance(message, dict):
                raise WireError("frame is not an object")
            messages.append(message)
        return messages


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = os.read(fd, size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def read_frame_blocking(fd: int) -> dict[str, Any] | None:
    """Read exactly one message from a blocking fd; None at end of file."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise WireError(f"frame of {size} bytes is over the limit")
    payload = _read_exactly(fd, size)
    if payload is None:
        return None
    return json.loads(payload)
