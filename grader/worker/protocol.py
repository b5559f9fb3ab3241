"""The conversation between the judge, a lane and a run process: every message, in one place.

- The judge (a grading process) sends a lane one Job per task of a grading run.
- A lane (a serving loop in the worker process: our code) forks a run process per grading run,
  hands it the tasks one at a time and tells the judge Ready, Started, Loaded, Reply and Done.
- A run process loads the learner's file and answers tasks. It runs learner code, so nothing it
  sends is trusted: the lane forwards its answer as unparsed text, and only the judge parses it,
  with wire's bounds, into one of the Answer kinds below (or Unreadable).

Every frame is wire's (length, payload). Judge <-> lane payloads are JSON objects with an "op";
run -> lane payloads are b"L" (the file is loaded), b"R" followed by the task's nonce and the
answer's JSON, or b"E" followed by why the run could not be walled in.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Union

from .wire import DESCRIPTION, Unreadable, clip, from_data, loads

MESSAGE_TEXT = 2000  # characters of an exception's message kept
FRAME_TEXT = 300  # characters of one line of a traceback
MAX_FRAMES = 4  # the learner's innermost traceback lines kept
OUTPUT_KEPT = 16 * 1024  # bytes of what a task printed that the lane keeps
NONCE_CHARS = 16  # a task's id, random hex: the judge's, the lane's and its run's to know

RUN_LOADED = b"L"
RUN_ANSWER = b"R"
RUN_BROKEN = b"E"  # the run process could not wall itself in (our failure, not the learner's)


# -- judge -> lane --------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One task of a grading run: run ids group the tasks that share a run process."""

    nonce: str
    run: str
    source: str
    filename: str
    task: dict[str, Any]
    seconds: float
    seed: int | None = None
    imports: list[str] = field(default_factory=list)

    def encode(self) -> dict[str, Any]:
        return {"op": "job", **vars(self)}  # shallow: asdict would deep-copy the task


# -- lane -> judge --------------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """The lane serves jobs; `isolation` is "" when each run gets namespaces of its own, else
    why it cannot (runs still go, and every report says so)."""

    isolation: str


@dataclass(frozen=True)
class Started:
    """The task is running: sent at once for a run's first task (the judge counts the run's
    budget from here), else only once it has run a while (zygote.ANNOUNCE_AFTER), so that
    the judge's clock for a stuck worker starts; a short task goes without it."""

    nonce: str


@dataclass(frozen=True)
class Loaded:
    """The learner's file finished importing (a hang from here on is in a task): sent with
    the task's Done, before it."""

    nonce: str


@dataclass(frozen=True)
class Reply:
    nonce: str
    answer: str  # the run process's JSON, parsed only by the judge (parse_answer)


@dataclass(frozen=True)
class Done:
    nonce: str
    status: str  # how the run process ended, or "running"
    timed_out: bool
    output: str  # the start of what the task printed
    output_bytes: int
    elapsed: float  # seconds the task ran, from the lane's handing it over
    refused: str = ""  # what the lane refused of the run process's bytes, if anything
    broken: str = ""  # why the run could not be walled in (the grader's failure)


LaneMessage = Union[Ready, Started, Loaded, Reply, Done]  # noqa: UP007
_LANE_KINDS: dict[str, type] = {
    "ready": Ready,
    "started": Started,
    "loaded": Loaded,
    "reply": Reply,
    "done": Done,
}
_FIELD_TYPES = {"isolation": str, "nonce": str, "answer": str, "status": str, "output": str}
_FIELD_TYPES.update({"timed_out": bool, "output_bytes": int, "refused": str, "broken": str})
_FIELD_TYPES["elapsed"] = float


def lane_message(message: LaneMessage) -> dict[str, Any]:
    op = next(op for op, kind in _LANE_KINDS.items() if isinstance(message, kind))
    return {"op": op, **vars(message)}


def parse_lane_message(payload: bytes) -> LaneMessage:
    """A lane's message, checked field by field (a lane is ours, but a check costs nothing).

    Its size is the frame's bound; the answer inside is a string, parsed later with wire's
    bounds (parse_answer)."""
    try:
        data = json.loads(payload)
    except ValueError:
        raise Unreadable("a lane message that is not JSON") from None
    kind = _LANE_KINDS.get(data.get("op")) if type(data) is dict else None
    if kind is None:
        raise Unreadable("not a lane message")
    values = {}
    for name in kind.__dataclass_fields__:
        value = data.get(name)
        if type(value) is not _FIELD_TYPES[name]:
            raise Unreadable(f"a {data['op']} message without a proper {name}")
        values[name] = value
    return kind(**values)


def parse_job(payload: bytes) -> Job:
    data = json.loads(payload)
    data.pop("op")
    return Job(**data)


# -- run process -> judge: the answer to a task -------------------------------------------


@dataclass(frozen=True)
class ErrorInfo:
    """An exception raised by learner code, as the learner should read it."""

    type: str
    message: str
    frames: tuple[str, ...] = ()  # "line 12, in f: code", the learner's own lines

    @classmethod
    def from_tree(cls, tree: Any) -> ErrorInfo:
        if type(tree) is not dict:
            raise Unreadable("an error that is not a mapping")
        frames = tree.get("frames", [])
        if type(frames) not in (list, tuple):
            raise Unreadable("an error with malformed frames")
        return cls(
            type=clip(tree.get("type", "Exception"), DESCRIPTION),
            message=clip(tree.get("message", ""), MESSAGE_TEXT),
            frames=tuple(clip(f, FRAME_TEXT) for f in list(frames)[-MAX_FRAMES:]),
        )


@dataclass(frozen=True)
class SyntaxInfo:
    line: int | None
    message: str
    text: str


@dataclass(frozen=True)
class Value:
    """The task's result, decoded (exact torch.Tensor, tuples, dicts, Opaque descriptions)."""

    value: Any
    forbidden_used: tuple[str, ...] = ()


@dataclass(frozen=True)
class Raised:
    error: ErrorInfo


@dataclass(frozen=True)
class Missing:
    """The learner's module does not define a name the task needs."""

    name: str


@dataclass(frozen=True)
class LoadFailed:
    """Importing the learner's file failed: the same for every task of the run."""

    syntax: SyntaxInfo | None = None
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class TooLarge:
    size: int


Answer = Union[Value, Raised, Missing, LoadFailed, TooLarge]  # noqa: UP007


# the run process's side: its answers as JSON trees (wire.to_data values), and their frame


def value_answer(value: Any, forbidden_used: list[str]) -> dict[str, Any]:
    return {"answer": "value", "value": value, "forbidden_used": forbidden_used}


def raised_answer(error: dict[str, Any]) -> dict[str, Any]:
    return {"answer": "raised", "error": error}


def missing_answer(name: str) -> dict[str, Any]:
    return {"answer": "missing", "name": name}


def load_error_answer(
    syntax: dict[str, Any] | None = None, error: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"answer": "load_error", "syntax": syntax, "error": error}


def too_large_answer(size: int) -> dict[str, Any]:
    return {"answer": "too_large", "size": size}


def encode_answer(nonce: str, answer: dict[str, Any]) -> bytes:
    """A run process's answer to the task `nonce`, framed for its lane."""
    return RUN_ANSWER + nonce.encode() + json.dumps(answer, allow_nan=True).encode()


def split_answer(body: bytes) -> tuple[str, str]:
    """A RUN_ANSWER frame's body: the nonce of the task it answers, and the answer's text.

    Learner code can write frames too: the lane takes one as a task's answer only if it
    names that task, so nothing it writes is ever taken for another task's answer."""
    nonce = body[:NONCE_CHARS].decode("ascii", "replace")
    return nonce, body[NONCE_CHARS:].decode("utf-8", "replace")


def new_nonce() -> str:
    return secrets.token_hex(NONCE_CHARS // 2)


# lane -> run process: one task at a time


def task_message(job: Job) -> dict[str, Any]:
    return {"nonce": job.nonce, "task": job.task, "seed": job.seed}


def parse_task(payload: bytes) -> tuple[str, dict[str, Any], int | None]:
    """The task's nonce, the task and its seed (from our own lane: trusted, but read the same
    way always)."""
    data = json.loads(payload)
    return data["nonce"], data["task"], data["seed"]


def parse_answer(text: str) -> Answer:
    """The judge's reading of a run process's answer: total, bounded, never trusting it."""
    data = loads(text)
    if type(data) is not dict:
        raise Unreadable("an answer that is not a mapping")
    kind = data.get("answer")
    if kind == "value":
        used = data.get("forbidden_used", [])
        if type(used) is not list or not all(type(op) is str for op in used):
            raise Unreadable("a malformed list of operators")
        return Value(from_data(data.get("value")), tuple(clip(op, 100) for op in used))
    if kind == "raised":
        return Raised(ErrorInfo.from_tree(data.get("error")))
    if kind == "missing":
        return Missing(clip(data.get("name", "?"), DESCRIPTION))
    if kind == "too_large" and type(data.get("size")) is int:
        return TooLarge(data["size"])
    if kind == "load_error":
        syntax = data.get("syntax")
        if type(syntax) is dict:
            line = syntax.get("line")
            return LoadFailed(
                syntax=SyntaxInfo(
                    line=line if type(line) is int else None,
                    message=clip(syntax.get("message", ""), MESSAGE_TEXT),
                    text=clip(syntax.get("text", ""), FRAME_TEXT),
                )
            )
        return LoadFailed(error=ErrorInfo.from_tree(data.get("error")))
    raise Unreadable(f"an answer of unknown kind {clip(kind, 40)!r}")
