"""The judge believes only what it can check: whatever a run process sends, the judge's memory,
the run's time and the result document stay bounded, and what could not be read is reported as
the learner's, never as an "internal error"."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from grader.sandbox import bubblewrap_problem

from .conftest import ROOT, with_override

MIB = 2**20

# the run process's own reply pipe: the write end among its fds that is neither stdout nor stderr
FORGE = """
import fcntl, os, struct, sys

def _nonce():
    # the task's id, from the serving loop's own frame: forged frames that carry it reach the
    # judge as this task's answer (without it the lane refuses them: see the tests below)
    frame = sys._getframe()
    while frame is not None and not isinstance(frame.f_locals.get("nonce"), str):
        frame = frame.f_back
    return frame.f_locals["nonce"].encode()

def _reply_fd():
    for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
        try:
            writable = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY
        except OSError:
            continue
        if fd > 2 and writable:
            return fd

def _send(payload, size=None, nonce=True):
    fd = _reply_fd()
    body = b"R" + (_nonce() if nonce else b"") + payload
    os.write(fd, struct.pack(">I", len(body) if size is None else size))
    view = memoryview(body)
    while view:
        view = view[os.write(fd, view[: 1 << 20]) :]
"""

JUDGE_RSS = """
import json, resource, sys
from pathlib import Path
from grader import catalog, import_judge
judge = import_judge()
kata = catalog.find(sys.argv[1])
result = judge.grade(kata, Path(sys.argv[2]), seed=5)
document = json.dumps(result.to_gradescope())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"rss": peak, "size": len(document), "doc": json.loads(document)}))
"""


def judged(kata: str, source: str, tmp_path) -> dict:
    """Grade `source` in a judge process of its own: the document, its size and the judge's
    peak resident memory."""
    path = tmp_path / f"{kata}_submission.py"
    path.write_text(source)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", JUDGE_RSS, kata, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["seconds"] = time.monotonic() - started
    return report


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> int:
    """The judge's peak memory grading the reference."""
    folder = tmp_path_factory.mktemp("baseline")
    return judged("ex02", with_override("ex02", ""), folder)["rss"]


def _center(body: str) -> str:
    code = FORGE + "\ndef center_rows(x):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return with_override("ex02", code)


# a forged frame arrives before the real answer: the judge reads it, and refuses it
FORGED = ("cannot read",)

ATTACKS = {
    "a 64 MiB frame": ("_send(b'[' * 10, size=64 * 2**20)\nreturn x", ("over the limit",)),
    "a flood of frames": (
        "import json\n"
        "for _ in range(20):\n"
        "    _send(json.dumps({'answer': 'value', 'value': 'x' * (15 * 2**20)}).encode())\n"
        "return x",
        FORGED,
    ),
    # its answer forged, then more written for it once the next check waits on this process
    "frames after a forged answer": (
        "import time\n"
        "for _ in range(3):\n"
        '    _send(b\'{"answer": "value", "value": {"__dict__": [1]}}\')\n'
        "    time.sleep(0.5)\n"
        "time.sleep(60)\n"
        "return x",
        FORGED,
    ),
    "a JSON bomb": ("_send(b'[' * (15 * 2**20))\nreturn x", FORGED),
    "deep nesting": ("_send(b'[' * 50000 + b']' * 50000)\nreturn x", FORGED),
    "a malformed value tree": (
        '_send(b\'{"answer": "value", "value": {"__dict__": [1, 2]}}\')\nreturn x',
        FORGED,
    ),
    "a tensor that does not fit its shape": (
        '_send(b\'{"answer": "value", "value": {"__tensor__": {"dtype": "float32", '
        '"shape": [1000000, 1000000], "data": "AAAA"}}}\')\nreturn x',
        FORGED,
    ),
    "a huge integer": (
        "_send(b'{\"answer\": \"value\", \"value\": ' + b'9' * 400 + b'}')\nreturn x",
        FORGED,
    ),  # fmt: skip
    "a frame that names no task": (
        '_send(b\'{"answer": "value", "value": 1}\', nonce=False)\nreturn x',
        ("reply channel",),
    ),
    "a frame for another task": (
        '_send(b\'0\' * 16 + b\'{"answer": "value", "value": 1}\', nonce=False)\nreturn x',
        ("reply channel",),
    ),
    "an unknown answer": ('_send(b\'{"answer": "forged"}\')\nreturn x', FORGED),
    "a 20 MB exception type name": (
        "raise type('E' * (20 * 2**20), (Exception,), {})('and a long message ' * 10**6)",
        ("raised E",),
    ),
}


@pytest.mark.skipif(bubblewrap_problem() is not None, reason="the forged frames need the sandbox")
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_whatever_the_run_sends_the_judge_stays_bounded(attack, baseline, tmp_path) -> None:
    body, said = ATTACKS[attack]
    report = judged("ex02", _center(body), tmp_path)
    doc = report["doc"]
    check = next(t for t in doc["tests"] if t["name"].startswith("center_rows"))
    assert check["status"] == "failed"
    assert any(phrase in check["output"] for phrase in said), check["output"][:500]
    assert "internal error" not in json.dumps(doc), "the judge blamed itself"
    assert doc["score"] == doc["max_score"] - check["max_score"], "the other checks still score"
    assert report["rss"] - baseline < 200 * MIB, f"the judge grew by {report['rss'] - baseline}"
    assert report["size"] < 2**20, f"a {report['size']}-byte document"
    assert report["seconds"] < 60


def test_a_number_beyond_float_range_is_the_learners_error(tmp_path) -> None:
    code = "def fit_line(x, y, lr=0.1, steps=200):\n    return 10**400, -0.0\n"
    doc = judged("ex05", with_override("ex05", code), tmp_path)["doc"]
    check = next(t for t in doc["tests"] if t["name"].startswith("fit_line returns"))
    assert check["status"] == "failed" and "internal error" not in check["output"]
    assert "float" in check["output"], check["output"]
