"""Submissions written to fool or break the grader (GRADER.md's guarantees).

Each runs through the real CLI and real worker processes. The kata is ex02: its
functions are plain, so each trick can target one function and leave the rest
correct, which shows the other checks still run and score.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid

import pytest

from grader.sandbox import bubblewrap_problem

from .conftest import ROOT, run_grade, with_override

CENTER = "center_rows subtracts"
sandboxed = pytest.mark.skipif(
    bubblewrap_problem() is not None, reason=f"no sandbox here: {bubblewrap_problem()}"
)


def wrong_center(prelude: str = "") -> str:
    return with_override("ex02", f"{prelude}\ndef center_rows(x):\n    return x * 0\n")


def test_patched_allclose_with_a_wrong_answer_does_not_pass(grade_source):
    source = wrong_center(
        "import torch, numpy, json\ntorch.allclose = lambda *a, **k: True\n"
        "torch.equal = lambda *a, **k: True\n"
        "torch.Tensor.allclose = lambda *a, **k: True\n"
        "torch.testing.assert_close = lambda *a, **k: None\n"
        "numpy.testing.assert_allclose = lambda *a, **k: None\n"
    )
    result = grade_source("ex02", source)
    assert result.by_name(CENTER)["status"] == "failed"
    assert result["score"] < result["max_score"] - 2, "changing torch breaks ex02's rule too"
    for check in result["tests"]:
        if not check["name"].startswith(CENTER):  # the others are right, and changed torch
            assert check["status"] == "failed" and "changes torch." in check["output"], check


def test_patching_the_workers_json_forges_nothing(grade_source):
    source = wrong_center("import json\njson.dumps = lambda *a, **k: '{\"value\": 1}'\n")
    result = grade_source("ex02", source)  # every reply is now garbage: nothing passes
    assert result["score"] == 0


def test_walking_the_stack_finds_no_expected_values(grade_source):
    source = with_override(
        "ex02",
        """
import sys, torch

def center_rows(x):
    frame, found = sys._getframe(1), []
    while frame is not None:
        found += [v for v in frame.f_locals.values() if type(v) is torch.Tensor and v is not x]
        frame = frame.f_back
    return found[0] if found else x * 0
""",
    )
    result = grade_source("ex02", source)
    assert result.by_name(CENTER)["status"] == "failed"


def test_lying_tensor_subclass_is_refused(grade_source):
    source = with_override(
        "ex02",
        """
import torch

class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func.__name__ in ("allclose", "equal", "isclose", "__eq__"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

def center_rows(x):
    return torch.zeros_like(x).as_subclass(Liar)
""",
    )
    check = grade_source("ex02", source).by_name(CENTER)
    assert check["status"] == "failed"
    assert "should return a torch.Tensor, got" in check["output"]


def test_mock_with_forged_eq_is_refused(grade_source):
    source = with_override(
        "ex02",
        """
from unittest.mock import MagicMock

def center_rows(x):
    fake = MagicMock()
    fake.__eq__ = lambda *a: True
    return fake
""",
    )
    check = grade_source("ex02", source).by_name(CENTER)
    assert check["status"] == "failed" and "MagicMock" in check["output"]


def test_exit_at_import_scores_zero(grade_source):
    result = grade_source("ex02", "import os\nos._exit(0)\n" + wrong_center())
    assert result["score"] == 0
    assert "without answering" in result["output"], "said once, at the top"
    assert all("not run" in t["output"] for t in result["tests"])


@pytest.mark.parametrize(
    "trick",
    [
        "raise SystemExit(0)",
        "raise KeyboardInterrupt",
        "import sys; sys.exit(0)",
        "import ctypes; ctypes.string_at(0)",
    ],
)
def test_exits_and_crashes_cost_only_their_check(trick, grade_source):
    source = with_override("ex02", f"def center_rows(x):\n    {trick}\n")
    result = grade_source("ex02", source)
    assert result.by_name(CENTER)["status"] == "failed"
    assert result["score"] == result["max_score"] - 2


def test_infinite_loop_ignoring_signals_ends_by_the_limit(grade_source):
    source = with_override(
        "ex02",
        """
import signal, time
for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, signal.SIG_IGN)

def center_rows(x):
    time.sleep(3600)  # no loop: ex02's rule would fail it before it ran
""",
    )
    started = time.monotonic()
    result = grade_source("ex02", source, "--time-limit", "2")
    assert time.monotonic() - started < 30
    check = result.by_name(CENTER)
    assert check["status"] == "failed" and "did not finish within the 2 s limit" in check["output"]
    assert result["score"] == result["max_score"] - 2  # a fresh process serves the others


def test_memory_bomb_is_stopped(grade_source):
    source = with_override(
        "ex02",
        """
def center_rows(x):
    hoard = []
    for _ in range(24):
        hoard.append(bytearray(512 * 1024 * 1024))
    return x - x.mean(1, keepdim=True)
""",
    )
    # the memory limit, not the time limit, must stop it: zero-filling 3 GiB takes seconds, but
    # 15-35 s on a VM whose host backs its memory on first touch (as on our CI machines)
    result = grade_source("ex02", source, "--time-limit", "120")
    check = result.by_name(CENTER)
    stopped = ("MemoryError", "memory budget")  # per process, or the whole run's cgroup
    assert check["status"] == "failed" and any(word in check["output"] for word in stopped)
    assert result["score"] == result["max_score"] - 2


def test_thread_left_running_keeps_a_correct_answer(grade_source):
    source = with_override(
        "ex02",
        """
import threading, time

def center_rows(x):
    threading.Thread(target=time.sleep, args=(60,)).start()
    print("noise")
    import warnings; warnings.warn("noise")
    return x - x.mean(1, keepdim=True)
""",
    )
    started = time.monotonic()
    result = grade_source("ex02", source)
    assert result["score"] == result["max_score"]
    assert time.monotonic() - started < 30


def test_detached_children_do_not_outlive_the_run(grade_source):
    marker = f"katas-orphan-{uuid.uuid4().hex}"
    source = with_override(
        "ex02",
        f'''
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{marker}"],
                 start_new_session=True)
''',
    )
    grade_source("ex02", source)
    time.sleep(0.5)
    survivors = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    assert survivors == ""


def test_printed_output_never_breaks_the_json(grade_source):
    fake = json.dumps({"score": 10.0, "max_score": 10.0, "tests": []})
    source = with_override(
        "ex02",
        f"""
import sys
print({fake!r})
sys.stderr.write("10 passed, 0 failed\\n")

def center_rows(x):
    sys.stdout.write("x" * (200 * 1024 * 1024))
    return x * 0
""",
    )
    result = grade_source("ex02", source)  # json.loads of the whole stdout inside
    check = result.by_name(CENTER)
    assert check["status"] == "failed" and len(check["output"]) < 5000


def test_syntax_error_reports_its_line(grade_source):
    result = grade_source("ex02", "import torch\n\ndef center_rows(x:\n    return x\n")
    assert result["score"] == 0
    assert "syntax error on line 3" in result["output"], "said once, at the top"
    assert all("not run" in t["output"] for t in result["tests"])


def test_missing_function_is_named(grade_source):
    source = with_override("ex02", "del batch_matvec\n")
    result = grade_source("ex02", source)
    check = result.by_name("batch_matvec")
    assert check["status"] == "failed" and "`batch_matvec`" in check["output"]
    assert result["score"] == result["max_score"] - 2


def test_wrong_return_type_says_expected_and_got(grade_source):
    source = with_override("ex02", "def center_rows(x):\n    return x.tolist()\n")
    check = grade_source("ex02", source).by_name(CENTER)
    assert "should return a torch.Tensor, got list" in check["output"]


def test_non_utf8_and_empty_files_score_zero_with_a_reason(grade_source):
    result = grade_source("ex02", b"x = '\xff'\n")
    assert result["score"] == 0 and "not UTF-8" in result["output"]
    result = grade_source("ex02", "")
    assert result["score"] == 0 and "does not define `center_rows`" in result["tests"][0]["output"]


@sandboxed
def test_references_and_checks_are_out_of_reach(grade_source):
    secrets = [
        ROOT / "solutions" / "ex02_fix_broadcasting.py",
        ROOT / "grader" / "checks" / "ex02_fix_broadcasting.py",
    ]
    source = with_override(
        "ex02",
        f"""
def center_rows(x):
    for path in {[str(p) for p in secrets]!r}:
        open(path).read()
    return x - x.mean(1, keepdim=True)
""",
    )
    check = grade_source("ex02", source).by_name(CENTER)
    assert check["status"] == "failed" and "FileNotFoundError" in check["output"]


@sandboxed
def test_worker_cannot_write_outside_its_temp_dir(grade_source, tmp_path):
    target = tmp_path / "forged-progress.json"
    source = with_override(
        "ex02",
        f"""
def center_rows(x):
    open({str(target)!r}, "w").write("{{}}")
    return x - x.mean(1, keepdim=True)
""",
    )
    check = grade_source("ex02", source).by_name(CENTER)
    assert check["status"] == "failed" and not target.exists()


def test_unsandboxed_fallback_says_so(grade_source):
    result = grade_source("ex02", with_override("ex02", ""), env={"KATAS_SANDBOX": "none"})
    assert result["score"] == result["max_score"]
    assert result["extra_data"]["sandbox"].startswith("unsandboxed")
    done = run_grade(
        "ex02",
        "--file",
        os.fspath(ROOT / "solutions" / "ex02_fix_broadcasting.py"),
        env={"KATAS_SANDBOX": "none"},
    )
    assert "unsandboxed" in done.stdout


def test_unbounded_recursion_costs_only_its_check(grade_source):
    source = with_override(
        "ex02",
        """
import sys
sys.setrecursionlimit(10**7)

def center_rows(x):
    return center_rows(x)
""",
    )
    result = grade_source("ex02", source)
    assert result.by_name(CENTER)["status"] == "failed"
    assert result["score"] == result["max_score"] - 2


@sandboxed
def test_worker_has_no_network(grade_source):
    with socket.create_server(("127.0.0.1", 0)) as server:  # reachable from this process
        port = server.getsockname()[1]
        source = with_override(
            "ex02",
            f"""
import socket

def center_rows(x):
    socket.create_connection(("127.0.0.1", {port}), timeout=2)
    return x - x.mean(1, keepdim=True)
""",
        )
        check = grade_source("ex02", source).by_name(CENTER)
    assert check["status"] == "failed" and "center_rows() raised" in check["output"]


def test_a_hang_on_import_costs_one_time_limit_not_one_per_check(grade_source) -> None:
    started = time.monotonic()
    result = grade_source("ex03", "while True:\n    pass\n", "--time-limit", "3")
    assert time.monotonic() - started < 20, "every check waited for the same hang"
    assert result["score"] == 0
    assert "importing your file did not finish within 3 s" in result["output"]
    for check in result["tests"]:
        assert "not run" in check["output"], check["output"]
