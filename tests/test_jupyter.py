"""Katas in a notebook: `grade notebook` writes them, and real notebooks run in a real Jupyter
kernel (nbclient, this Python) grade their `%%grade` cells out of process: full marks, the
judge's own diagnosis, a syntax error's line, a hanging or exiting cell that costs its checks
and never the kernel, and progress kept in the workspace."""

from __future__ import annotations

import datetime
import html
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader import catalog, jupyter, progress, workspace
from grader.notebooks import docstring_and_code
from grader.results import CheckResult, Result, fingerprint
from grader.sandbox import Limits

from .conftest import run_grade, with_override
from .variants.ex02_fix_broadcasting import WRONG

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

pytestmark = pytest.mark.xdist_group("jupyter")  # one executed notebook, for several tests

FIRST, SECOND = catalog.find("ex01"), catalog.find("ex02")
SEED = 20261202
CELL_SECONDS = 180  # nbclient's limit per cell: a cell that hangs the kernel fails the test
WRONG_CODE = with_override("ex02", WRONG["ex02/missing-keepdim"])
KERNEL = "torch-katas-test"


def execute(notebook: dict, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Run every cell as Jupyter does, in a fresh kernel of this Python (the .venv's) in `cwd`.

    The kernel spec is ours, so that no python3 spec installed elsewhere picks another Python."""
    specs = cwd.parent / f"{cwd.name}-jupyter"
    spec = specs / "kernels" / KERNEL / "kernel.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(specs))
    monkeypatch.delenv("KATAS_STATE_DIR", raising=False)
    node = nbformat.from_dict(notebook)
    client = nbclient.NotebookClient(
        node, kernel_name=KERNEL, timeout=CELL_SECONDS, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return node


def code_cell(source: str) -> dict:
    return nbformat.v4.new_code_cell(source)


def grade_cell(kata: catalog.Kata, code: str, options: str = f"--seed {SEED}") -> dict:
    return code_cell(f"%%grade {kata.id} {options}\n{code}")


def tagged(cell: dict, *tags: str) -> dict:
    """The cell, named by its first tag; nbclient lets a cell tagged "raises-exception" fail."""
    cell["metadata"]["tags"] = list(tags)
    return cell


def outputs(notebook: dict, tag: str) -> dict:
    """The tagged cell's outputs: 'html', 'text' (a display's text/plain), 'stream'."""
    cell = next(c for c in notebook["cells"] if tag in c["metadata"].get("tags", []))
    found = {"html": "", "text": "", "stream": "", "seconds": _seconds(cell)}
    for output in cell["outputs"]:
        assert output["output_type"] != "error", f"{tag}: {output}"
        if output["output_type"] == "stream":
            found["stream"] += output["text"]
        elif output["output_type"] == "display_data":
            found["html"] += output["data"].get("text/html", "")
            found["text"] += output["data"].get("text/plain", "")
    return found


def _seconds(cell: dict) -> float:
    times = cell["metadata"].get("execution", {})
    start, end = times.get("iopub.execute_input"), times.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = datetime.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


class _Rows(HTMLParser):
    """The report table's rows, each cell's text unescaped."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table(report_html: str) -> list[list[str]]:
    parser = _Rows()
    parser.feed(report_html)
    return parser.rows


def flat(text: str) -> str:
    """Text with its wrapping and indentation gone, for comparing a report wrapped at 100."""
    return " ".join(text.split())


def grade_list(where: Path) -> dict[str, dict]:
    done = run_grade("list", "--json", cwd=where)
    assert done.returncode == 0, done.stderr
    return {kata["id"]: kata for kata in json.loads(done.stdout)["katas"]}


# --- grade notebook ------------------------------------------------------------------------


def test_grade_notebook_writes_a_workspace_with_a_notebook_per_kata(tmp_path: Path) -> None:
    home = tmp_path / "katas"
    done = run_grade("notebook", "--katas", "ex01-ex02", str(home))
    assert done.returncode == 0, done.stderr
    assert (home / workspace.MARKER).is_file(), "DIR is made a workspace"
    assert sorted(p.name for p in (home / "notebooks").iterdir()) == [
        f"{FIRST.name}.ipynb",
        f"{SECOND.name}.ipynb",
    ]
    for kata in (FIRST, SECOND):
        notebook = nbformat.read(home / "notebooks" / f"{kata.name}.ipynb", as_version=4)
        nbformat.validate(notebook)
        setup, text, solution, hint = notebook.cells
        assert setup.source.splitlines()[-1] == "%load_ext grader"
        assert "# !pip install" in setup.source, "Colab: the install line, commented out"
        doc, stub = docstring_and_code(kata.stub_text())
        title, _, rest = doc.partition("\n")
        assert text.cell_type == "markdown"
        assert text.source.startswith(f"# {title}\n\n{rest.strip()}\n\n")
        assert solution.source == f"%%grade {kata.id}\n{stub.rstrip()}"
        assert hint.source == f"%grade_hint {kata.id}"


def test_grade_notebook_keeps_the_learners_notebooks_and_workspace(tmp_path: Path) -> None:
    assert run_grade("notebook", "--katas", "ex01", str(tmp_path)).returncode == 0
    mine = tmp_path / "notebooks" / f"{FIRST.name}.ipynb"
    mine.write_text(mine.read_text().replace("raise NotImplementedError", "return 0"))
    edited = mine.read_text()
    again = run_grade("notebook", "--katas", "ex01-ex02", cwd=tmp_path / "notebooks")
    assert again.returncode == 0, again.stderr
    assert "kept your" in again.stdout and mine.read_text() == edited
    assert not (tmp_path / "notebooks" / workspace.MARKER).exists(), "inside one: no new one"
    assert (tmp_path / "notebooks" / f"{SECOND.name}.ipynb").is_file(), "in its notebooks/"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--katas", "ex99"], "unknown exercise"), (["{full}"], "is not empty")],
)
def test_grade_notebook_refuses_bad_input_in_one_line(tmp_path, args, message) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "thesis.tex").write_text("mine")
    done = run_grade("notebook", *[a.format(full=full) for a in args], cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert [p.name for p in full.iterdir()] == ["thesis.tex"]


# --- the report ----------------------------------------------------------------------------


def test_html_report_escapes_wraps_and_says_each_text_as_result_texts() -> None:
    said = "<b>3 & 4</b> " + "a long message " * 40
    result = Result(
        kata=FIRST.name,
        file="<cell>",
        seed=1,
        sandbox="bubblewrap",
        checks=[
            CheckResult("first <script>", 2.0, output=said),
            CheckResult("second", 1.0, output=said),
            CheckResult("third", 1.0, score=1.0),
        ],
    )
    page = jupyter.html_report(result, FIRST)
    assert "<script>" not in page and "<b>3 &amp;" not in page.replace(html.escape(said), "")
    rows = table(page)
    assert rows[0] == ["check", "points", "status", "text"]
    assert rows[1:] == [
        [check.name, f"{check.score:g}/{check.max_score:g}", status, text]
        for check, status, text in zip(
            result.checks, ["failed", "failed", "passed"], result.texts(), strict=True
        )
    ]
    assert "pre-wrap" in page and "overflow-wrap:anywhere" in page, "long texts wrap"
    assert "%grade_hint ex01" in page and "--seed 1" in page


# --- a notebook in a workspace, run in a real kernel ---------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """The ex02 notebook `grade notebook` wrote, with cells of ours after it, executed."""
    home = tmp_path_factory.mktemp("lab") / "katas"
    assert run_grade("notebook", "--katas", "ex01-ex02", str(home)).returncode == 0
    folder = home / "notebooks"
    notebook = nbformat.read(folder / f"{SECOND.name}.ipynb", as_version=4)
    notebook["cells"][0] = tagged(notebook["cells"][0], "load")
    notebook["cells"][3] = tagged(notebook["cells"][3], "hint")  # after the stub's grade
    reference = SECOND.solution_path.read_text()
    notebook["cells"] += [
        tagged(code_cell("import sys\nprint(sys.executable)"), "python"),
        tagged(
            code_cell(
                "import torch\ntorch.set_num_threads(2)\ntorch.manual_seed(5)\n"
                "before = torch.get_rng_state()"
            ),
            "torch",
        ),
        tagged(grade_cell(SECOND, WRONG_CODE), "wrong"),
        tagged(
            code_cell("print(torch.get_num_threads(), torch.equal(before, torch.get_rng_state()))"),
            "kept",
        ),
        tagged(grade_cell(SECOND, reference), "right"),
        tagged(grade_cell(FIRST, "import torch\n\ndef affine_param_count(:\n    pass\n"), "syntax"),
        tagged(grade_cell(FIRST, "while True:\n    pass\n"), "hangs"),
        tagged(grade_cell(FIRST, "import os\n\nos._exit(0)\n"), "exits"),
        tagged(code_cell("print('the kernel is alive')"), "alive"),
        tagged(
            code_cell("from grader import jupyter\nprint(jupyter._worker.process.proc.pid)"),
            "worker",
        ),
    ]
    with pytest.MonkeyPatch.context() as patch:
        executed = execute(notebook, folder, patch)
    return executed, home


def test_the_kernel_is_this_python(lab) -> None:
    notebook, _ = lab
    assert outputs(notebook, "python")["stream"].strip() == sys.executable


def test_load_ext_says_where_progress_is_kept(lab) -> None:
    notebook, home = lab
    said = outputs(notebook, "load")["stream"]
    assert "%%grade exNN" in said and f"kept in {home.resolve()}" in said


def test_a_correct_cell_gets_full_marks(lab) -> None:
    notebook, _ = lab
    shown = outputs(notebook, "right")
    rows = table(shown["html"])[1:]
    assert rows and all(row[2] == "passed" for row in rows), rows
    assert f"All checks pass: {SECOND.points:g}/{SECOND.points:g} points." in shown["html"]
    assert f"All checks pass: {SECOND.points:g}/{SECOND.points:g} points." in shown["text"]
    assert not re.search(r"<(table|div|td)", shown["text"]), "plain text, not HTML"


def test_a_wrong_cell_shows_the_judges_diagnosis(lab, tmp_path) -> None:
    """The same checks and texts as `grade --file --json` of the same code with the same seed
    (the cell's code starts on its line 2: the file gets a blank line 1)."""
    notebook, _ = lab
    shown = outputs(notebook, "wrong")
    path = tmp_path / "wrong.py"
    path.write_text("\n" + WRONG_CODE)
    done = run_grade(SECOND.id, "--file", str(path), "--json", "--seed", str(SEED))
    assert done.returncode == 1, done.stderr
    tests = json.loads(done.stdout)["tests"]
    rows = table(shown["html"])[1:]
    expected = [
        [t["name"], f"{t['score']:g}/{t['max_score']:g}", t["status"], t["output"]] for t in tests
    ]
    assert rows == expected
    assert any("keepdim=True" in t["output"] for t in tests if t["status"] == "failed")
    for t in tests:
        assert flat(t["output"]) in flat(shown["text"]), t["name"]


def test_grading_leaves_the_kernels_torch_as_it_was(lab) -> None:
    notebook, _ = lab
    assert outputs(notebook, "kept")["stream"].split() == ["2", "True"]


def test_a_syntax_error_names_the_cells_line(lab) -> None:
    notebook, _ = lab
    shown = outputs(notebook, "syntax")
    assert "syntax error on line 4" in html.unescape(shown["html"]), shown["html"][:2000]
    assert "syntax error on line 4" in shown["text"]
    assert "def affine_param_count(:" in shown["text"]


def test_a_hanging_cell_ends_within_its_limit_and_the_kernel_goes_on(lab) -> None:
    notebook, _ = lab
    shown = outputs(notebook, "hangs")
    limit = Limits().check_seconds
    assert f"did not finish within {limit:g} s" in html.unescape(shown["html"])
    assert 0 < shown["seconds"] < limit + 20, shown["seconds"]
    assert "ended its process" in html.unescape(outputs(notebook, "exits")["html"])
    assert outputs(notebook, "alive")["stream"] == "the kernel is alive\n"


def test_the_worker_ends_with_the_kernel(lab) -> None:
    notebook, _ = lab
    pid = int(outputs(notebook, "worker")["stream"])
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_progress_is_kept_as_the_cli_keeps_it(lab) -> None:
    notebook, home = lab
    assert "(about your code's first mistake)" in outputs(notebook, "hint")["stream"]
    katas = grade_list(home)
    assert katas[SECOND.id]["status"] == "passed", "the last graded cell of ex02 is correct"
    assert katas[SECOND.id]["score"] == SECOND.points
    assert katas[FIRST.id]["status"] == "in progress"
    assert katas["ex03"]["status"] == "not started"
    exercises = home / "exercises"
    assert (exercises / SECOND.filename).read_text() == SECOND.stub_text(), "never written"


# --- a notebook anywhere (as in Colab), and IPython in a terminal ----------------------------


def test_without_a_workspace_it_grades_and_keeps_nothing(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "colab"
    folder.mkdir()
    cells = [
        tagged(code_cell("%load_ext grader"), "load"),
        tagged(grade_cell(FIRST, FIRST.solution_path.read_text()), "right"),
        tagged(code_cell(f"%grade_hint {FIRST.id}"), "hint1"),
        tagged(code_cell(f"%grade_hint {FIRST.id}"), "hint2"),
        tagged(code_cell(f"%grade {FIRST.id}"), "no-file", "raises-exception"),
        tagged(
            code_cell("from grader import jupyter\nprint(jupyter._kernel_workspace().root)"),
            "where",
        ),
    ]
    notebook = execute(nbformat.v4.new_notebook(cells=cells), folder, monkeypatch)
    said = outputs(notebook, "load")["stream"]
    assert "no torch-katas workspace here" in said and "error" not in said.lower()
    assert "All checks pass" in outputs(notebook, "right")["html"]
    assert outputs(notebook, "hint1")["stream"].startswith(f"Hint 1/{len(FIRST.hints)}")
    assert outputs(notebook, "hint2")["stream"].startswith(f"Hint 2/{len(FIRST.hints)}")
    assert "%%grade ex01" in outputs(notebook, "no-file")["stream"], "says how instead"
    assert list(folder.iterdir()) == [], "nothing written where the notebook runs"
    assert not Path(outputs(notebook, "where")["stream"].strip()).exists(), "gone with it"


def test_ipython_in_a_terminal_shows_the_plain_text_report(tmp_path) -> None:
    reference = FIRST.solution_path.read_text()
    (tmp_path / "mine.py").write_text(reference)
    session = (
        "ip = get_ipython(); ip.run_line_magic('load_ext', 'grader'); "
        f"ip.run_cell_magic('grade', '{FIRST.id}', open('mine.py').read())"
    )
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor", "-c", session],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"All checks pass: {FIRST.points:g}/{FIRST.points:g} points." in done.stdout
    assert not re.search(r"<(table|div|td)", done.stdout), "text, not HTML"
    report = done.stdout[done.stdout.index(f"{FIRST.id} {FIRST.title}") :]
    assert max(len(line) for line in report.splitlines()) <= jupyter.TEXT_WIDTH


# --- progress: a notebook cell stands for a pristine exercise file --------------------------


def _result(kata: catalog.Kata, code: str, score: float, tags: list[str] = ()) -> Result:
    check = CheckResult("all of it", kata.points, score=score, tags=list(tags))
    return Result(kata.name, "<cell>", 1, "", [check], fingerprint=fingerprint(code))


def test_a_graded_cell_is_the_kata_while_the_file_is_untouched(tmp_path) -> None:
    place, _ = workspace.create(tmp_path / "w")
    code = "\ndef affine_param_count(i, o):\n    return i * o + o\n"
    progress.record_cell(place, FIRST, _result(FIRST, code, FIRST.points), code)
    assert progress.status(place, FIRST) == ("passed", FIRST.points)
    stub = FIRST.stub_text()
    progress.record(place, FIRST, _result(FIRST, stub, 0.0))  # `grade` grades every file
    assert progress.status(place, FIRST) == ("passed", FIRST.points), "not wiped by `grade`"
    place.exercise_path(FIRST).write_text(stub + "\n# mine\n")
    assert progress.status(place, FIRST) == ("in progress", None), "an edited file is the kata"
    place.exercise_path(FIRST).write_text(stub)
    state_file = place.state_dir / "state.json"
    state = json.loads(state_file.read_text())
    state["cells"][FIRST.id]["code"] += "# edited by hand\n"
    state_file.write_text(json.dumps(state))
    assert progress.status(place, FIRST) == ("not started", 0.0), "an entry that is not whole"
