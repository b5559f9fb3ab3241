"""A class's worth of grading: `grade batch` against `nbgrader autograde` on the same work.

Builds nbgrader courses of some katas with synthetic submissions, then times in one run:
  * a class whose notebooks are correct, wrong or crash on import, graded by
      1. nbgrader autograde as nbgrader does it (a kernel per notebook, test cells run there),
      2. nbgrader autograde with our JudgeSolutions preprocessor (serial, no kernel),
      3. grade batch (all cores, one shared worker; the median of --repeat batches, run
         before, between and after nbgrader's two runs);
    then by grade batch once and twice over, for the cost of one more notebook and the ratio
    it implies at the issue's scale (200 students x 20 katas: nbgrader would need hours);
  * a few notebooks that hang on import, graded by 1 and 3: each tool spends its time
    limit on them (nbgrader's 30 s per cell, our 2 s per check);
  * all of them together, graded by 3 in one batch (nbgrader: the sum of its two runs);
  * one learner's `grade` of all katas (the references) against `python -c "import torch"`.
Prints the throughput ratios. Targets: batch >= 50x nbgrader; all katas <= 2.5x an import.

    .venv/bin/python benchmarks/batch_vs_nbgrader.py [--students 40] [--hanging 2]

The default class (40 students x 5 katas) keeps nbgrader busy for about six minutes here;
a grade batch pays about a second of start-up (torch imported by the judge and the
worker), so a smaller class measures mostly that.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import catalog  # noqa: E402
from grader.catalog import Kata  # noqa: E402
from grader.classroom.course import build_course  # noqa: E402

MIX = ("correct", "correct", "correct", "correct", "wrong", "wrong", "crash")
VANILLA_CONFIG = """c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "torch-katas"
c.ClearSolutions.code_stub = {"python": ""}
"""
NBGRADER = [sys.executable, "-m", "nbgrader"]


def submission(kata: Kata, kind: str) -> str:
    reference = kata.solution_path.read_text()
    if kind == "correct":
        return reference
    if kind == "crash":
        return "import os\n\nos._exit(1)\n" + reference
    if kind == "hang":
        return "while True:\n    pass\n" + reference
    variants = ROOT / "tests" / "variants" / f"{kata.name}.py"
    wrong = ast.literal_eval(ast.parse(variants.read_text()).body[1].value)  # WRONG = {...}
    return f"{reference}\n\n{next(iter(wrong.values()))}"


def run(command: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> float:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    # bytecode caches, as a learner's machine keeps them (torch's came with its wheel); some
    # machines (this VM) set PYTHONDONTWRITEBYTECODE for every process: the first run writes them
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def make_course(course: Path, katas: list[Kata], kinds: list[str]) -> int:
    """A course with one student per entry of `kinds`, each submitting every kata that way
    (kinds rotate through the katas, so each student's notebooks differ)."""
    build_course(course, katas, "katas")
    ours = (course / "nbgrader_config.py").read_text()
    (course / "nbgrader_config.py").write_text(VANILLA_CONFIG)
    run([*NBGRADER, "generate_assignment", "katas"], course)
    count = 0
    for s, first in enumerate(kinds):
        folder = course / "submitted" / f"student{s:03d}" / "katas"
        folder.mkdir(parents=True)
        for k, kata in enumerate(katas):
            kind = first if first == "hang" else MIX[(s * len(katas) + k) % len(MIX)]
            nb = json.loads((course / "release" / "katas" / f"{kata.name}.ipynb").read_text())
            cell = next(c for c in nb["cells"] if c["metadata"]["nbgrader"]["solution"])
            cell["source"] = submission(kata, kind)
            (folder / f"{kata.name}.ipynb").write_text(json.dumps(nb))
            count += 1
    (course / "ours_config.py").write_text(ours)
    return count


def nbgrader_autograde(course: Path, ours: bool) -> float:
    shutil.rmtree(course / "autograded", ignore_errors=True)
    config = course / ("ours_config.py" if ours else "vanilla_config.py")
    if not ours and not config.exists():
        config.write_text(VANILLA_CONFIG)
    (course / "nbgrader_config.py").write_text(config.read_text())
    # vanilla nbgrader exits 1 when a notebook crashed its kernel: expected here
    return run([*NBGRADER, "autograde", "katas"], course, check=ours)


def grade_batch(submitted: Path, out: Path) -> float:
    return run([sys.executable, "-m", "grader", "batch", str(submitted), "--out", str(out)], ROOT)


def median_batch(
    submitted: Path, out: Path, repeat: int, between: tuple[Callable[[], object], ...] = ()
) -> float:
    """The median of `repeat` batches, each into a fresh folder, spread out before, between
    and after the calls in `between` (nbgrader's runs): a batch takes seconds, and on a shared
    VM the same batch took 9.3 s to 15.4 s within minutes, where nbgrader's minutes average
    such swings out; spread, the batches see the machine nbgrader saw."""
    timings: list[float] = []
    for part, call in enumerate((*between, None)):
        share = repeat // (len(between) + 1) + (part < repeat % (len(between) + 1))
        for _ in range(share):
            timings.append(grade_batch(submitted, out.with_name(f"{out.name}-{len(timings)}")))
        if call is not None:
            call()
    print(f"  grade batch, {repeat} runs: {', '.join(f'{t:.1f} s' for t in timings)}")
    return statistics.median(timings)


def line(label: str, seconds: float, notebooks_count: int) -> None:
    print(f"  {label:36}{seconds:8.1f} s  {notebooks_count / seconds:7.2f} notebooks/s")


def learner_all_katas(tmp: Path, repeat: int) -> None:
    """`grade` of all katas in a copy of the project whose exercises are the references."""
    project = tmp / "project"
    for folder in ("grader", "solutions"):
        shutil.copytree(ROOT / folder, project / folder)
    shutil.copytree(ROOT / "solutions", project / "exercises")
    env = {"PYTHONPATH": str(project), "KATAS_STATE_DIR": str(tmp / "state")}
    grade = [sys.executable, "-m", "grader"]
    run(grade, project, env=env)  # warm the page cache; it must pass, or run() stops here
    timings: dict[str, list[float]] = {"grade": [], "import": []}
    for _ in range(repeat):
        timings["grade"].append(run(grade, project, env=env))
        timings["import"].append(run([sys.executable, "-c", "import torch"], project))
    every, one_import = (statistics.median(timings[k]) for k in ("grade", "import"))
    count = len(catalog.katas())
    print(f"one learner, `grade` of all {count} katas (median of {repeat}): {every:.2f} s")
    print(f"  python -c 'import torch' (median of {repeat}):        {one_import:.2f} s")
    print(f"  ratio {every / one_import:.2f}  (target <= 2.5)")


def at_scale(tmp: Path, submitted: Path, count: int, vanilla: float) -> None:
    """The class graded once and twice over (folders, no gradebook): what one more notebook
    costs a batch, and the ratio that implies for the issue's 200 students x 20 katas."""
    timings = []
    for copies in (1, 2):
        folder = tmp / f"class-x{copies}"
        for copy in range(copies):
            for student in submitted.iterdir():
                shutil.copytree(student, folder / f"{copy}-{student.name}")
        timings.append(grade_batch(folder, tmp / f"grades-x{copies}"))
    once, twice = timings
    marginal = (twice - once) / count
    print(f"  grade batch of the class as a folder: {once:.1f} s; twice over: {twice:.1f} s")
    each = vanilla / count
    print(
        f"  one more notebook costs grade batch {marginal * 1000:.0f} ms, nbgrader {each:.2f} s: "
        f"{each / marginal:.0f}x"
    )
    scale = 200 * 20
    projected = (vanilla / count * scale) / (once + marginal * (scale - count))
    print(f"  projected for {scale} notebooks of this mix: {projected:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40, help="students in the class")
    parser.add_argument("--hanging", type=int, default=2, help="students whose notebooks hang")
    parser.add_argument("--katas", default="ex01-ex05")
    parser.add_argument("--repeat", type=int, default=3, help="runs of batches and of grade")
    args = parser.parse_args()
    katas = catalog.select(args.katas)
    with tempfile.TemporaryDirectory(prefix="katas-bench-") as tmp_name:
        tmp = Path(tmp_name)
        cls, hang = tmp / "class", tmp / "hanging"
        n_cls = make_course(cls, katas, ["mixed"] * args.students)
        n_hang = make_course(hang, katas[:1], ["hang"] * args.hanging)
        print(f"class: {n_cls} notebooks ({args.students} students x {len(katas)} katas), {MIX}")
        timed: dict[str, float] = {}

        def autograde(ours: bool) -> None:
            timed["JudgeSolutions" if ours else "kernels"] = nbgrader_autograde(cls, ours)

        steps = (partial(autograde, ours=False), partial(autograde, ours=True))
        batch = median_batch(cls / "submitted", tmp / "grades-class", args.repeat, steps)
        vanilla = timed["kernels"]
        line("nbgrader autograde (kernels)", vanilla, n_cls)
        line("nbgrader autograde (JudgeSolutions)", timed["JudgeSolutions"], n_cls)
        line(f"grade batch ({os.cpu_count()} cores, median)", batch, n_cls)
        print(f"  ratio batch / nbgrader: {vanilla / batch:.1f}x  (target >= 50)")

        at_scale(tmp, cls / "submitted", n_cls, vanilla)

        print(f"hanging on import: {n_hang} notebooks")
        vanilla_hang = nbgrader_autograde(hang, ours=False)
        line("nbgrader autograde (kernels)", vanilla_hang, n_hang)
        batch_hang = grade_batch(hang / "submitted", tmp / "grades-hanging")
        line(f"grade batch ({os.cpu_count()} cores)", batch_hang, n_hang)
        print(f"  ratio batch / nbgrader: {vanilla_hang / batch_hang:.1f}x")

        together = tmp / "together"
        for course in (cls, hang):
            for student in (course / "submitted").iterdir():
                shutil.copytree(student, together / f"{course.name}-{student.name}")
        both = median_batch(together, tmp / "grades-together", args.repeat)
        print(
            f"all {n_cls + n_hang} notebooks in one batch: {both:.1f} s; nbgrader's two runs: "
            f"{vanilla + vanilla_hang:.1f} s"
        )
        print(f"  ratio batch / nbgrader: {(vanilla + vanilla_hang) / both:.1f}x  (target >= 50)")

        learner_all_katas(tmp, args.repeat)


if __name__ == "__main__":
    main()
