#!/usr/bin/env python3
"""Regenerate the file lists of BrainTumorAI/CMakeLists.txt from the source tree.

Slicer installs only the files named in MODULE_PYTHON_SCRIPTS and
MODULE_PYTHON_RESOURCES, so a file left out works from the source tree and is
missing from the built extension. Run this after adding or removing files:

    python Utilities/update_cmake_file_lists.py          # rewrite the lists
    python Utilities/update_cmake_file_lists.py --check  # exit 1 if they are stale

Scripts are every ``.py`` under BrainTumorAI/; resources are every other file
(icons, .ui, requirements.txt, model cards and weights of braintumorai/models,
...). Files git ignores, caches and hidden files are left out.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "BrainTumorAI"
CMAKE_FILE = MODULE_DIR / "CMakeLists.txt"
MAIN_SCRIPT = "BrainTumorAI.py"
LISTS = ("MODULE_PYTHON_SCRIPTS", "MODULE_PYTHON_RESOURCES")
SKIPPED_NAMES = {"CMakeLists.txt"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def _git_files(module_dir: Path) -> list[str] | None:
    """Tracked and untracked-but-not-ignored files, relative to module_dir; None without git."""
    try:
        output = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "."],
            cwd=module_dir, capture_output=True, check=True,
        ).stdout.decode("utf-8")
    except (OSError, subprocess.CalledProcessError):
        return None
    return [name for name in output.split("\0") if name and (module_dir / name).is_file()]


def _walk_files(module_dir: Path) -> list[str]:
    return [p.relative_to(module_dir).as_posix() for p in module_dir.rglob("*") if p.is_file()]


def module_files(module_dir: Path = MODULE_DIR) -> tuple[list[str], list[str]]:
    """(scripts, resources): paths relative to module_dir, the main script first."""
    names = _git_files(module_dir)
    if names is None:
        names = _walk_files(module_dir)
    scripts, resources = [], []
    for name in sorted(set(names)):
        parts = name.split("/")
        if any(part.startswith(".") or part == "__pycache__" for part in parts):
            continue
        if parts[-1] in SKIPPED_NAMES or Path(name).suffix in SKIPPED_SUFFIXES:
            continue
        (scripts if name.endswith(".py") else resources).append(name)
    if MAIN_SCRIPT in scripts:
        scripts.remove(MAIN_SCRIPT)
        scripts.insert(0, MAIN_SCRIPT)
    return scripts, resources


def render(text: str, lists: dict[str, list[str]]) -> str:
    """``text`` with the lines between each list's BEGIN/END markers replaced."""
    for name, entries in lists.items():
        pattern = re.compile(
            rf"(^[ \t]*# BEGIN {name}[^\n]*\n)(.*?)(^[ \t]*# END {name}[^\n]*$)", re.MULTILINE | re.DOTALL
        )
        if not pattern.search(text):
            raise SystemExit(f"{CMAKE_FILE}: the '# BEGIN {name}' / '# END {name}' markers are missing; add them back.")
        body = "".join(f"  {entry}\n" for entry in entries)
        text = pattern.sub(lambda m: m.group(1) + body + m.group(3), text, count=1)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when the lists are stale")
    args = parser.parse_args(argv)
    scripts, resources = module_files()
    text = CMAKE_FILE.read_text(encoding="utf-8")
    updated = render(text, {"MODULE_PYTHON_SCRIPTS": scripts, "MODULE_PYTHON_RESOURCES": resources})
    if args.check:
        if updated != text:
            print(f"{CMAKE_FILE} is stale; run: python Utilities/update_cmake_file_lists.py", file=sys.stderr)
            return 1
        return 0
    if updated != text:
        CMAKE_FILE.write_text(updated, encoding="utf-8")
    print(f"{len(scripts)} scripts, {len(resources)} resources listed in {CMAKE_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
