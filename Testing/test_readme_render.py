"""The README as GitHub shows it: rendered by a GitHub-flavoured markdown renderer
(markdown-it-py with tables), no table swallows the text after it, and what a new user runs
is documented there as the commands' help says it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
_PIPE = re.compile(r"(?<!\\)\|")


def _tables():
    markdown_it = pytest.importorskip("markdown_it")
    renderer = markdown_it.MarkdownIt("commonmark").enable("table")
    tokens = renderer.parse(README)
    lines = README.splitlines()
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            start, end = token.map
            yield lines[start:end], tokens[index:]


def _cells(line: str) -> int:
    return len(_PIPE.split(line.strip().strip("|")))


def test_no_table_swallows_the_text_after_it():
    tables = list(_tables())
    assert len(tables) > 10  # the renderer found the README's tables
    for rows, _ in tables:
        header = rows[0]
        for row in rows:
            # A paragraph line glued to a table (no blank line between) renders as a row of
            # the table: every line of a rendered table must be one of its rows.
            assert row.lstrip().startswith("|") and row.rstrip().endswith("|"), f"text swallowed by a table: {row!r}"
            assert _cells(row) == _cells(header) or set(row.replace("|", "").strip()) <= set("-: "), (
                f"a table row with {_cells(row)} cells under a header of {_cells(header)}: {row!r}")


def test_the_renderer_would_catch_a_paragraph_glued_to_a_table():
    markdown_it = pytest.importorskip("markdown_it")
    glued = "| key | value |\n|---|---|\n| a | b |\n`--out` is replaced whole.\n"
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(glued)
    assert "<td><code>--out</code> is replaced whole.</td>" in html  # what the README's old text rendered as


def _long_options(command: str) -> set[str]:
    from braintumorai.cli import build_parser

    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.__class__.__name__ == "_SubParsersAction")
    options = set()
    for action in subparsers.choices[command]._actions:
        options |= {o for o in action.option_strings if o.startswith("--") and o != "--help"}
    return options


@pytest.mark.parametrize("command", ["demo", "classify", "models"])
def test_every_option_of_the_commands_a_new_user_runs_is_in_the_readme(command):
    assert f"braintumorai {command}" in README
    missing = sorted(option for option in _long_options(command) if option not in README)
    assert not missing, f"braintumorai {command}: {missing} not documented in README.md"


def test_the_readme_and_bench_help_name_the_same_gpu_precisions():
    from braintumorai.cli import build_parser

    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.__class__.__name__ == "_SubParsersAction")
    help_text = subparsers.choices["bench"].description
    said = re.search(r"GPU is measured too, in ([a-z0-9, ]+)", help_text).group(1)
    precisions = set(re.findall(r"b?float\d+", said))
    readme = re.search(r"GPU is measured too, in ([a-z0-9,\s]+)", README).group(1)
    assert precisions == set(re.findall(r"b?float\d+", readme)) == {"float32", "float16", "bfloat16"}


def test_the_readme_counts_seven_maps_shows_the_demos_own_figure_and_git_ignores_its_output():
    assert "six saliency maps" not in README and "seven saliency maps" in README
    figure = "Resources/Figures/demo-saliency-fused.png"
    assert f"({figure})" in README and (ROOT / figure).is_file()
    assert "/demo-output/" in (ROOT / ".gitignore").read_text().splitlines()
