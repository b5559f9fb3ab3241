"""The worker process: imports torch once, then forks a fresh child per job.

Started by the judge (inside the sandbox when there is one) with the protocol
on stdin/stdout. Forking a process that has already imported torch costs
milliseconds, so every check gets a clean child: a crash, an exit or a
monkeypatch in one check cannot touch another.

Protocol: the worker sends {"op": "ready"}; for each {"op": "job", "nonce"} it
sends {"op": "started", "nonce", "pid"}, the child answers {"op": "reply",
"nonce", ...}, and the worker sends {"op": "done", "nonce", "status", "output"}
once the child has gone.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import resource
import select
import signal
import sys
from typing import Any

from . import runner, wire

OUTPUT_KEPT = 16 * 1024  # bytes of the learner's printed output kept per job


def _set_limits() -> None:
    memory = int(os.environ.get("KATAS_MEMORY_BYTES", "0"))
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _child(job: dict[str, Any], channel: int, out_w: int) -> None:
    """Runs in the forked child: never returns."""
    os.setpgid(0, 0)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.close(out_w)
    sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
    # "loaded" tells the judge a hang is in the task, not on import (where every check would hang)
    reply = runner.run_job(
        job, loaded=lambda: wire.write_frame(channel, {"op": "loaded", "nonce": job["nonce"]})
    )
    reply.update(op="reply", nonce=job["nonce"])
    try:
        frame = wire.dumps(reply)
        if len(frame) > wire.MAX_FRAME:
            frame = wire.dumps({"op": "reply", "nonce": job["nonce"], "too_large": len(frame)})
        view = memoryview(frame)
        while view:
            view = view[os.write(channel, view) :]
    finally:
        os._exit(0)  # also ends any thread the learner left running


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"killed by signal {sig} ({signal.Signals(sig).name})"
    code = os.WEXITSTATUS(status)
    return "exited normally" if code == 0 else f"exited with status {code}"


def _run(job: dict[str, Any], channel: int) -> None:
    for name in job.get("imports", []):
        if name.startswith("torch"):  # imported once here, so no child pays for it
            importlib.import_module(name)
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        _child(job, channel, out_w)
    os.close(out_w)
    wire.write_frame(channel, {"op": "started", "nonce": job["nonce"], "pid": pid})
    kept = bytearray()
    total = 0
    status = None
    while status is None:
        ready, _, _ = select.select([out_r], [], [], 0.02)
        if ready:
            chunk = os.read(out_r, 1 << 16)
            total += len(chunk)
            kept += chunk[: max(0, OUTPUT_KEPT - len(kept))]
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            status = code
    os.close(out_r)
    with contextlib.suppress(OSError):  # leftovers of the job (its group) do not outlive it
        os.killpg(pid, signal.SIGKILL)
    wire.write_frame(
        channel,
        {
            "op": "done",
            "nonce": job["nonce"],
            "status": _describe_status(status),
            "output": kept.decode("utf-8", "replace"),
            "output_bytes": total,
        },
    )


def main() -> None:
    commands, channel = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    _set_limits()
    gc.disable()  # importing torch makes ~a million objects and no garbage: skip gc passes
    import torch

    torch.set_num_threads(1)  # one core per check, and fork-safe: no thread pool yet
    import torch.nn.functional  # noqa: F401  warm the modules learners import
    import torch.optim  # noqa: F401

    from . import guards  # noqa: F401  imported once here, not in every child

    gc.enable()

    wire.write_frame(channel, {"op": "ready", "pid": os.getpid()})
    while (job := wire.read_frame_blocking(commands)) is not None:
        _run(job, channel)
