"""A class's worth of grading: `grade batch` against `nbgrader autograde` on the same work.

Builds an nbgrader course of some katas, makes synthetic submissions (a mix of
correct, wrong, crashing and hanging notebooks), then times in one run:
  1. nbgrader autograde as nbgrader does it: a kernel per notebook, test cells run there;
  2. nbgrader autograde with our JudgeSolutions preprocessor (serial, no kernel);
  3. grade batch on the same submitted/ folder (all cores, warm workers);
and, for one learner, `grade` of every kata against `python -c "import torch"`.
Prints the throughput ratios. Targets: batch >= 50x nbgrader; all katas <= 2.5x an import.

    .venv/bin/python benchmarks/batch_vs_nbgrader.py [--students 4] [--katas ex01-ex05]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import notebooks  # noqa: E402
from grader.catalog import Kata  # noqa: E402

MIX = ("correct", "correct", "correct", "correct", "wrong", "wrong", "crash", "hang")
VANILLA_CONFIG = """c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "torch-katas"
c.ClearSolutions.code_stub = {"python": ""}
"""


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


def run(command: list[str], cwd: Path, check: bool = True) -> float:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def make_course(course: Path, katas: list[Kata], students: int) -> int:
    notebooks.build_course(course, katas, "katas")
    ours = (course / "nbgrader_config.py").read_text()
    (course / "nbgrader_config.py").write_text(VANILLA_CONFIG)
    nbgrader = [sys.executable, "-m", "nbgrader"]
    run([*nbgrader, "generate_assignment", "katas"], course)
    count = 0
    for s in range(students):
        student = f"student{s:03d}"
        folder = course / "submitted" / student / "katas"
        folder.mkdir(parents=True)
        for k, kata in enumerate(katas):
            nb = json.loads((course / "release" / "katas" / f"{kata.name}.ipynb").read_text())
            cell = next(c for c in nb["cells"] if c["metadata"]["nbgrader"]["solution"])
            cell["source"] = submission(kata, MIX[(s * len(katas) + k) % len(MIX)])
            (folder / f"{kata.name}.ipynb").write_text(json.dumps(nb))
            count += 1
    (course / "ours_config.py").write_text(ours)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--katas", default="ex01-ex05")
    args = parser.parse_args()
    katas = notebooks.select_katas(args.katas)
    nbgrader = [sys.executable, "-m", "nbgrader"]
    with tempfile.TemporaryDirectory(prefix="katas-bench-") as tmp:
        course = Path(tmp) / "course"
        n = make_course(course, katas, args.students)
        print(f"{n} notebooks: {args.students} students x {len(katas)} katas, mix {MIX}")

        # nbgrader exits 1 when a notebook crashed its kernel: expected here
        vanilla = run([*nbgrader, "autograde", "katas"], course, check=False)
        print(f"nbgrader autograde (kernels):          {vanilla:8.1f} s  {n / vanilla:6.2f}/s")

        shutil.rmtree(course / "autograded")
        (course / "nbgrader_config.py").write_text((course / "ours_config.py").read_text())
        judged = run([*nbgrader, "autograde", "katas"], course)
        print(f"nbgrader autograde (JudgeSolutions):   {judged:8.1f} s  {n / judged:6.2f}/s")

        batch = run([sys.executable, "-m", "grader", "batch", str(course)], course)
        cores = f"grade batch ({os.cpu_count()} cores):"
        print(f"{cores:39}{batch:8.1f} s  {n / batch:6.2f}/s")
        print(f"throughput ratio batch / nbgrader:   {vanilla / batch:6.1f}x  (target >= 50)")
        print(f"  JudgeSolutions / nbgrader:         {vanilla / judged:6.1f}x")

    with tempfile.TemporaryDirectory(prefix="katas-learner-") as tmp:
        folder = Path(tmp) / "me"
        folder.mkdir()
        for kata in notebooks.select_katas(None):
            shutil.copy(kata.solution_path, folder / f"{kata.name}.py")
        every = run([sys.executable, "-m", "grader", "batch", tmp, "--out", f"{tmp}/out"], ROOT)
        one_import = min(run([sys.executable, "-c", "import torch"], ROOT) for _ in range(3))
        print(f"all 20 katas, one learner (grade batch): {every:.2f} s; torch: {one_import:.2f} s")
        print(f"ratio: {every / one_import:.2f}  (target <= 2.5)")


if __name__ == "__main__":
    main()
