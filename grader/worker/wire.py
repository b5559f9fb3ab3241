"""Frames and plain-data values: what crosses a process boundary, and the bounds on it.

A frame is a 4-byte big-endian length, then that many bytes. Values are JSON trees whose leaves
are numbers, strings, booleans and None, with a few tagged forms: tuples, dicts, tensors (dtype,
shape and raw bytes) and a description of anything else. No object is ever pickled, so a
learner object cannot run code where it is read.

Whatever a run process sends may have been written by learner code, so reading is bounded:
the frame's size, the number of containers and elements in it, the nesting depth, every
string's length and every integer's range. Anything outside them raises Unreadable, which the
judge reports to the learner ("your code returned something the grader cannot read").
"""

from __future__ import annotations

import base64
import json
import os
import struct
from dataclasses import dataclass
from typing import Any

MAX_REPLY = 16 * 2**20  # bytes of one answer: ten times the largest a check needs
MAX_FRAME = MAX_REPLY + 2**20  # a lane's message carries one answer and a little more
MAX_DEPTH = 32  # containers inside containers
MAX_CONTAINERS = 100_000  # lists and mappings in one answer
MAX_ELEMENTS = 400_000  # commas: the items of all of them
MAX_TEXT = 100_000  # characters of one string inside a value
INT_RANGE = 2**63  # integers beyond int64 are described, not sent
DESCRIPTION = 200  # characters of a type name or repr describing what could not be sent
_HEADER = struct.Struct(">I")
# what one read of a pipe asks for: a pipe holds 64 KiB, so a larger read returns no more,
# and its buffer made malloc grow and trim its heap on every read (a huge page zeroed each time)
PIPE_READ = 1 << 16


class Unreadable(ValueError):
    """Bytes or a tree that are not a well-formed message: sent by broken or hostile code."""


@dataclass(frozen=True)
class Opaque:
    """A value that could not be sent as data: only its type and repr travel."""

    type_name: str
    text: str


def clip(text: object, limit: int) -> str:
    """A string of at most `limit` characters (and a marker when something was cut)."""
    text = text if type(text) is str else str(text)
    return text if len(text) <= limit else f"{text[: max(0, limit - 16)]}... [{len(text):,} chars]"


# -- values ---------------------------------------------------------------------------------


def _encode_tensor(t: Any) -> dict[str, Any]:
    import torch

    raw = b""
    if t.device.type != "meta" and t.numel():  # a meta tensor has a shape and no data
        flat = t.detach().to("cpu").contiguous().reshape(-1)
        raw = flat.view(torch.uint8).numpy().tobytes()
    return {
        "dtype": str(t.dtype).removeprefix("torch."),
        "shape": list(t.shape),
        "data": base64.b64encode(raw).decode("ascii"),
        "requires_grad": bool(t.requires_grad),
        "device": t.device.type,
    }


def describe(value: Any) -> dict[str, Any]:
    """The tagged description of a value that is not plain data."""
    cls = type(value)
    try:
        text = repr(value)[:DESCRIPTION]
    except BaseException:  # a learner's __repr__ may raise anything
        text = "<repr failed>"
    name = f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', '?')}"
    return {"__opaque__": [name[:DESCRIPTION], text]}


def to_data(value: Any, depth: int = 0) -> Any:
    """Turn a value into the JSON tree; anything unexpected becomes an Opaque description."""
    if depth > MAX_DEPTH - 2:
        return describe(value)
    cls = type(value)
    if value is None or cls in (bool, float, str):
        return value
    if cls is int:
        return value if -INT_RANGE <= value < INT_RANGE else describe(value)
    if cls is list:
        return [to_data(v, depth + 1) for v in value]
    if cls is tuple:
        return {"__tuple__": [to_data(v, depth + 1) for v in value]}
    if cls is dict and all(type(k) is str for k in value):
        return {"__dict__": {k: to_data(v, depth + 1) for k, v in value.items()}}
    if getattr(cls, "__module__", "").startswith("torch"):
        import torch

        if cls is torch.Tensor:  # the exact type: subclasses may lie about themselves
            return {"__tensor__": _encode_tensor(value)}
        if cls is torch.dtype:
            return {"__dtype__": str(value).removeprefix("torch.")}
        if cls is torch.device:
            return {"__device__": str(value)}
    return describe(value)


def _check_leaf(tree: Any) -> Any:
    if type(tree) is str:
        if len(tree) > MAX_TEXT:
            raise Unreadable(f"a string of {len(tree):,} characters")
        return tree
    if type(tree) is int and not -INT_RANGE <= tree < INT_RANGE:
        raise Unreadable("an integer outside the 64-bit range")
    if tree is None or type(tree) in (bool, int, float):
        return tree
    raise Unreadable(f"a {type(tree).__name__} where a value was expected")


def _tensor(body: Any) -> Any:
    import torch

    if type(body) is not dict or type(body.get("data")) is not str:
        raise Unreadable("a malformed tensor")
    dtype = getattr(torch, str(body.get("dtype")), None)
    if not isinstance(dtype, torch.dtype):
        raise Unreadable(f"a tensor of unknown dtype {clip(body.get('dtype'), 40)!r}")
    shape = body.get("shape")
    if type(shape) is not list or not all(type(n) is int and 0 <= n < INT_RANGE for n in shape):
        raise Unreadable("a tensor with a malformed shape")
    try:
        raw = bytearray(base64.b64decode(body["data"], validate=True))
    except ValueError:
        raise Unreadable("a tensor whose data is not base64") from None
    count = 1
    for n in shape:
        count *= n
    if body.get("device") == "meta" and not raw and count < INT_RANGE:
        return torch.empty(shape, dtype=dtype, device="meta")
    if count * dtype.itemsize != len(raw):
        raise Unreadable("a tensor whose data does not fit its shape")
    flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
    t = flat.reshape(shape).clone()
    if body.get("requires_grad") is True and t.is_floating_point():
        t.requires_grad_(True)
    return t


def from_data(tree: Any, depth: int = 0) -> Any:
    """Inverse of to_data, building fresh plain objects (tensors are exact torch.Tensor).

    Raises Unreadable for any tree to_data could not have made, or one past the bounds.
    """
    if depth > MAX_DEPTH:
        raise Unreadable(f"values nested more than {MAX_DEPTH} deep")
    if type(tree) is list:
        return [from_data(v, depth + 1) for v in tree]
    if type(tree) is not dict:
        return _check_leaf(tree)
    if len(tree) != 1:
        raise Unreadable("an untagged mapping")
    ((tag, body),) = tree.items()
    if tag == "__tuple__" and type(body) is list:
        return tuple(from_data(v, depth + 1) for v in body)
    if tag == "__dict__" and type(body) is dict:
        return {_check_leaf(k): from_data(v, depth + 1) for k, v in body.items()}
    if tag == "__opaque__" and type(body) is list and len(body) == 2:
        return Opaque(clip(body[0], DESCRIPTION), clip(body[1], DESCRIPTION))
    if tag == "__tensor__":
        return _tensor(body)
    import torch

    if tag == "__dtype__" and isinstance(getattr(torch, str(body), None), torch.dtype):
        return getattr(torch, str(body))
    if tag == "__device__" and type(body) is str:
        try:
            return torch.device(body)
        except RuntimeError:
            raise Unreadable(f"an unknown device {clip(body, 40)!r}") from None
    raise Unreadable(f"an unknown form {clip(tag, 40)!r}")


def loads(text: str | bytes) -> Any:
    """Parse JSON sent by untrusted code, within the bounds above."""
    if len(text) > MAX_FRAME:
        raise Unreadable(f"{len(text):,} bytes, over the limit of {MAX_FRAME:,}")
    raw = text.encode() if type(text) is str else text
    containers = raw.count(b"[") + raw.count(b"{")  # an upper bound: brackets in strings count
    if containers > MAX_CONTAINERS or raw.count(b",") > MAX_ELEMENTS:
        raise Unreadable(f"more than {MAX_CONTAINERS:,} lists or {MAX_ELEMENTS:,} items")
    try:
        return json.loads(raw)
    except RecursionError:
        raise Unreadable("JSON nested too deep") from None
    except ValueError as exc:
        raise Unreadable(f"not JSON ({clip(exc, 100)})") from None


# -- frames ---------------------------------------------------------------------------------


def dumps(message: Any) -> bytes:
    return frame(json.dumps(message, allow_nan=True).encode())


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload)) + payload


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class FrameReader:
    """Accumulates bytes from a non-blocking source and yields complete frames' payloads."""

    def __init__(self, limit: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self.limit = limit

    @property
    def pending(self) -> bool:
        """Bytes of a frame not yet complete."""
        return bool(self._buffer)

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk
        payloads = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > self.limit:
                raise Unreadable(f"a frame of {size:,} bytes, over the limit of {self.limit:,}")
            if len(self._buffer) < _HEADER.size + size:
                break
            payloads.append(bytes(self._buffer[_HEADER.size : _HEADER.size + size]))
            del self._buffer[: _HEADER.size + size]
        return payloads


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = os.read(fd, size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def read_frame(fd: int, limit: int = MAX_FRAME) -> bytes | None:
    """One frame's payload from a blocking fd; None at end of file."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > limit:
        raise Unreadable(f"a frame of {size:,} bytes, over the limit of {limit:,}")
    return _read_exactly(fd, size)
