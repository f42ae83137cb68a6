"""Docs that cannot rot: every command README.md and docs/ show is parsed by the real argument parser, the
README's commands and its Python example run, the CLI reference is the parser's own text, every README
result is found in the analysis folder it links to, and every run and parameter file is described."""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from brainyolo.cli import build_parser
from brainyolo.cli.reference import markdown

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted(p for p in (REPO / "docs").glob("*.md") if p.name != "cli-reference.md")]
BLOCK = re.compile(r"^```(?:bash|text)\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`((?:\.venv/bin/)?brainyolo [^`]+)`")


def shell_commands(text: str) -> list[str]:
    """The commands of a page's ```bash blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                commands += [part.strip() for part in line.split("&&")]
    return commands


def shown_commands() -> list[tuple[str, str]]:
    """(page, command) for every ``brainyolo`` command a page shows, in blocks and in inline code."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        candidates = shell_commands(text) + INLINE.findall(text)
        for command in candidates:
            words = shlex.split(command)
            if len(words) > 2 and Path(words[0]).name == "brainyolo":  # `brainyolo run` alone names a command
                found.append((page.name, command))
    return found


TYPED = {"N": "2", "S": "7", "T": "32", "STEPS": "2", "DAYS": "1", "L": "2", "C": "0"}
"""Placeholders the docs use where an option takes a number, and a value of that type."""


def synopsis_to_command(text: str) -> str:
    """A synopsis as the command it stands for at its least: ``[optional]`` parts dropped, the first of
    ``a|b`` and ``(a | b)`` alternatives kept, ``...`` dropped.

    >>> synopsis_to_command("brainyolo x M.h5 [--a N [--b]] (--c D | --d E) --e f|g ... -o out")
    'brainyolo x M.h5 --c D --e f -o out'
    """
    previous = None
    while previous != text:
        previous, text = text, re.sub(r"\[[^\[\]]*\]", "", text)
    text = re.sub(r"\(([^()|]*)\|[^()]*\)", r"\1", text)
    words = [word.split("|")[0] for word in text.split() if word not in ("...", "…")]
    return " ".join(words)


def test_pages_show_commands():
    pages = {page for page, _ in shown_commands()}
    assert {"README.md", "commands.md", "parameters-and-tuning.md"} <= pages
    assert len(shown_commands()) >= 30


@pytest.mark.parametrize("page, command", shown_commands())
def test_every_shown_command_parses(page, command):
    """Each command as shown (with its placeholders as values) is accepted by the parser: no option
    the docs show has been renamed or removed."""
    words = [TYPED.get(word, word) for word in shlex.split(synopsis_to_command(command))[1:]]
    try:
        build_parser().parse_args(words)
    except SystemExit as exit_:
        pytest.fail(f"{page}: `{command}` does not parse (exit {exit_.code})")


def test_cli_reference_is_the_parsers_text():
    """docs/cli-reference.md is what ``python -m brainyolo.cli.reference`` writes now (regenerate it)."""
    assert (REPO / "docs" / "cli-reference.md").read_text(encoding="utf-8") == markdown()


def test_every_page_is_linked_from_the_guide():
    index = (REPO / "docs" / "README.md").read_text(encoding="utf-8")
    for page in (REPO / "docs").glob("*.md"):
        if page.name != "README.md":
            assert f"({page.name})" in index, page.name
    for link in re.findall(r"\]\(([^)#]+)\)", index + (REPO / "README.md").read_text(encoding="utf-8")):
        if "://" not in link:
            assert ((REPO / "docs" / link).exists() or (REPO / link).exists()), link


def test_every_run_and_parameter_file_is_described():
    readme = (REPO / "runs" / "README.md").read_text(encoding="utf-8")
    for path in [*(REPO / "runs").glob("*.toml"), *(REPO / "runs" / "params").glob("*.toml")]:
        assert f"`{path.name}`" in readme, path


def results_rows() -> list[tuple[str, str, str]]:
    """(what, result, study folder) of the README's results table."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text[text.index("## Results"):text.index("## Layout")]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        links = re.findall(r"\((analysis/[^)]+?)/README\.md\)", line)
        if len(cells) == 3 and links:
            rows += [(cells[0], cells[1], link) for link in links[:1]]
    return rows


@pytest.mark.parametrize("what, result, study", results_rows())
def test_every_readme_number_is_in_its_study(what, result, study):
    """Every number of a README result row appears in a file of the analysis folder the row links to."""
    folder = REPO / study
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*")
                     if p.is_file() and p.suffix in (".md", ".json", ".txt", ".csv"))
    numbers = re.findall(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", re.sub(r"T = \d+|\d+ generated|\d+ COCO|\d+ scenes|"
                                                                r"\d+ threads|\d+ steps", "", result))
    assert numbers, result
    for number in numbers:
        assert re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", text), f"{number} ({what}) not in {study}"


# The README's "which command for what" table, run as shown: placeholders stand for the embedded detector's
# files and generated scenes. Commands run by other tests are named with the test that runs them.
PLACEHOLDERS = {"photo.jpg": "scenes/images/scene0000.png", "DIR": "scenes/images",
                "--labels DIR": "--labels scenes/labels", "TRAIN_IMAGES": "calib/images",
                "M.cfg": str(REPO / "brainyolo/data/tiny-yolov3.cfg"),
                "M.weights": str(REPO / "brainyolo/data/tiny-yolov3.weights"), "FILE": "model.h5"}
"""The table's placeholders: the embedded detector's Darknet files, generated scenes; ``model.h5`` is what
the convert row writes, so every later row uses the converted model."""
RUN_ELSEWHERE = {
    "brainyolo demo": "tests/cli/test_cli.py::test_demo_end_to_end (the README's main job, every file it promises)",
    "brainyolo fetch": "tests/data/test_fetch.py (a loopback server: no network in tests)",
    "brainyolo run": "tests/experiments/test_experiment.py (run files on the embedded detector)",
    "brainyolo tune": "tests/convert/test_tuning.py, tests/cli/test_command_matrix.py",
    "brainyolo evaluate embedded-direct-events": "tests/cli/test_command_matrix.py (every event input)",
    "brainyolo import-nir": "tests/nir/test_nir_norse.py (a NIR file Norse ran)",
    "brainyolo export-nir": "tests/nir/test_nir.py (import -> export -> import)",
}


def table_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text[text.index("## Which command for what"):text.index("## From Python")]
    return INLINE.findall(table)


def test_every_table_command_runs_somewhere():
    for command in table_commands():
        assert command.startswith("brainyolo ")
        assert any(command.startswith(k) for k in RUN_ELSEWHERE) or "…" not in command, command


def _substituted(command: str, folder: Path) -> list[str]:
    for placeholder in sorted(PLACEHOLDERS, key=len, reverse=True):
        command = re.sub(rf"(?<![\w/.-]){re.escape(placeholder)}(?![\w/.-])", PLACEHOLDERS[placeholder], command)
    written = {"scenes", "calib", "my_scenes", "model.h5", "params.toml", "out", "run", "figures", "tune"}
    program, name, *words = shlex.split(command)
    return [program, name, *(str(folder / w) if w.split("/")[0] in written else w for w in words)]


TABLE_SECONDS = 600
"""A table command that builds a network may take minutes on a loaded 2-core machine (61 s in one CI run
at the default 60 s)."""


@pytest.mark.long
def test_readme_table_commands_run(tmp_path):
    """Each command of the table, in order, on the embedded detector and generated scenes."""
    from conftest import run_cli

    from brainyolo.data.scenes import write_scenes

    write_scenes(tmp_path / "scenes", 2, seed=31)
    write_scenes(tmp_path / "calib", 4, seed=32)
    ran = 0
    for command in table_commands():
        if any(command.startswith(k) for k in RUN_ELSEWHERE):
            continue
        words = _substituted(command, tmp_path)
        code, out, err = run_cli(words[1:], seconds=TABLE_SECONDS)
        assert code == 0, f"`{command}` -> {words}: {err[-2000:]}"
        ran += 1
    assert ran >= 8


PYTHON = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


@pytest.mark.long
def test_readme_python_example_runs(tmp_path):
    """The README's Python example, as shown, in a fresh process: two membranes over 32 steps, detections
    of the lesioned run at 8, 16 and 32 steps."""
    (code,) = PYTHON.findall((REPO / "README.md").read_text(encoding="utf-8"))
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    shape, counts = ast.literal_eval(result.stdout.strip().splitlines()[-1].replace(") {", "), {"))
    assert shape == (2, 32) and sorted(counts) == [8, 16, 32] and counts[32] >= 1
