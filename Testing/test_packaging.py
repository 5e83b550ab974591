"""Packaging integrity of the Slicer extension: what the Extension Manager builds
and what Slicer loads must match the source tree."""

from __future__ import annotations

import ast
import json
import re
import struct
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "BrainTumorAI"
MODULE_SCRIPT = MODULE_DIR / "BrainTumorAI.py"
HEAVY_PACKAGES = {"torch", "monai", "lifelines"}
CATALOG_PROPERTIES = {  # schema v1.0.1 has "additionalProperties": false
    "$schema", "category", "scm_url", "scm_revision", "scm_type", "build_dependencies",
    "build_subdirectory", "enabled", "tier",
}


def cmake_list(text: str, name: str) -> list[str]:
    """Entries of ``set(name ...)`` in a CMakeLists.txt, comments dropped."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    match = re.search(rf"set\(\s*{name}\b(.*?)\)", code, re.DOTALL)
    assert match, f"set({name} ...) is missing"
    return match.group(1).split()


def shipped_files() -> list[str]:
    """Files under BrainTumorAI/ that belong to the extension (git's view when available)."""
    try:
        output = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "."],
            cwd=MODULE_DIR, capture_output=True, check=True,
        ).stdout.decode()
        names = [n for n in output.split("\0") if n and (MODULE_DIR / n).is_file()]
    except (OSError, subprocess.CalledProcessError):
        names = [p.relative_to(MODULE_DIR).as_posix() for p in MODULE_DIR.rglob("*") if p.is_file()]
    return sorted(
        n for n in names
        if not any(part.startswith(".") or part == "__pycache__" for part in n.split("/"))
        and not n.endswith((".pyc", ".pyo")) and n != "CMakeLists.txt"
    )


def test_every_script_and_resource_is_listed_in_the_module_cmakelists():
    text = (MODULE_DIR / "CMakeLists.txt").read_text()
    scripts = cmake_list(text, "MODULE_PYTHON_SCRIPTS")
    resources = cmake_list(text, "MODULE_PYTHON_RESOURCES")
    files = shipped_files()
    assert "BrainTumorAI.py" in scripts and "Resources/UI/BrainTumorAI.ui" in resources

    missing_scripts = [f for f in files if f.endswith(".py") and f not in scripts]
    missing_resources = [f for f in files if not f.endswith(".py") and f not in resources]
    hint = "run: python Utilities/update_cmake_file_lists.py"
    assert not missing_scripts, f"not in MODULE_PYTHON_SCRIPTS: {missing_scripts}; {hint}"
    assert not missing_resources, f"not in MODULE_PYTHON_RESOURCES: {missing_resources}; {hint}"
    for kind in ("Resources/Icons/BrainTumorAI.png", "Resources/Testing/survival.json",
                 *(f"Resources/requirements-{action}.txt" for action in ("classify", "survival", "sample", "report"))):
        assert kind in resources
    stale = [f for f in scripts + resources if not (MODULE_DIR / f).is_file()]
    assert not stale, f"listed but absent: {stale}; {hint}"
    assert all(f.endswith(".py") for f in scripts)
    assert "slicerMacroBuildScriptedModule" in text and "WITH_GENERIC_TESTS" in text


def test_root_cmakelists_has_the_extension_wizard_form():
    text = (ROOT / "CMakeLists.txt").read_text()
    # As the Slicer 5.10 extension template has it.
    assert text.startswith("cmake_minimum_required(VERSION 3.20.6...3.22.6 FATAL_ERROR)")
    for needle in (
        "cmake_minimum_required", "project(BrainTumorAI)", "EXTENSION_HOMEPAGE", "EXTENSION_CONTRIBUTORS",
        "EXTENSION_DESCRIPTION", "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS",
        "find_package(Slicer REQUIRED)", "include(${Slicer_USE_FILE})", "add_subdirectory(BrainTumorAI)",
        "include(${Slicer_EXTENSION_GENERATE_CONFIG})", "include(${Slicer_EXTENSION_CPACK})",
    ):
        assert needle in text, f"root CMakeLists.txt lacks {needle}"
    depends = re.search(r'set\(EXTENSION_DEPENDS\s+"([^"]*)"', text)
    assert depends and "PyTorch" in depends.group(1).split()


def test_catalog_entry_matches_schema_and_project():
    root_cmake = (ROOT / "CMakeLists.txt").read_text()
    project = re.search(r"project\((\w+)\)", root_cmake).group(1)
    homepage = re.search(r'set\(EXTENSION_HOMEPAGE\s+"([^"]+)"', root_cmake).group(1)
    entries = list(ROOT.glob("*.json"))
    assert [e.name for e in entries] == [f"{project}.json"], "the catalog entry is named after project()"

    entry = json.loads(entries[0].read_text())
    assert {"$schema", "category", "scm_url"} <= set(entry)
    assert set(entry) <= CATALOG_PROPERTIES, f"fields outside schema v1.0.1: {set(entry) - CATALOG_PROPERTIES}"
    assert "slicer-extension-catalog-entry-schema-v1.0.1.json" in entry["$schema"]
    assert entry["category"] == "Neuroimaging"
    assert entry["scm_url"].rstrip("/").removesuffix(".git") == homepage.rstrip("/")
    assert entry["build_dependencies"] == ["PyTorch"]
    assert entry.get("scm_revision") == "main" and entry.get("tier") in (1, 3, 5)
    # The index's prettier check (multiline-arrays plugin, threshold 0): two-space indent,
    # one array item per line, LF line ends, a final newline; json.dumps(indent=2) writes exactly that.
    assert entries[0].read_bytes().decode("utf-8") == json.dumps(entry, indent=2) + "\n"


def test_extension_pictures_live_in_the_top_level_resources_and_every_reference_resolves():
    """Screenshots (the URLs the Extensions Manager shows), the README's pictures and the scripts
    that write them all point into Resources/; the icon URL names the module's icon; docs/ is gone."""
    assert not (ROOT / "docs").exists()
    cmake = (ROOT / "CMakeLists.txt").read_text()
    prefix = "https://raw.githubusercontent.com/braintumorai/SlicerBrainTumorAI/main/"
    icon = re.search(r'set\(EXTENSION_ICONURL\s+"([^"]+)"', cmake).group(1)
    screenshots = re.search(r'set\(EXTENSION_SCREENSHOTURLS\s+"([^"]+)"', cmake).group(1).split()
    # One icon: the module's, which Slicer shows for the module (Resources/Icons/<module>.png of the
    # module folder) and the Extensions Manager loads from EXTENSION_ICONURL. Not a second copy at the
    # top level: git cannot link one to the other portably (Windows checkouts), and copies drift.
    assert icon == prefix + "BrainTumorAI/Resources/Icons/BrainTumorAI.png"
    icons = subprocess.run(["git", "ls-files", "*BrainTumorAI.png"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert icons == ["BrainTumorAI/Resources/Icons/BrainTumorAI.png"], icons
    assert (ROOT / icon[len(prefix):]).is_file()
    for url in screenshots:
        assert url.startswith(prefix + "Resources/") and (ROOT / url[len(prefix):]).is_file(), url
    readme = (ROOT / "README.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert "Resources/Screenshots/slice-views.png" in pictures
    for path in pictures:
        assert path.startswith("Resources/") and (ROOT / path).is_file(), path
    for script in ("training/montage.py", "Utilities/render_screenshots.py"):
        text = (ROOT / script).read_text()
        assert "docs/" not in text and '"docs"' not in text, script


def test_icon_is_a_128_pixel_png():
    data = (ROOT / "BrainTumorAI/Resources/Icons/BrainTumorAI.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (128, 128)


def test_the_module_file_is_widget_wiring_only():
    lines = MODULE_SCRIPT.read_text().splitlines()
    assert len(lines) <= 440, f"BrainTumorAI.py has {len(lines)} lines; move logic into BrainTumorAILib"
    source = "\n".join(lines)
    for gone in ("slicer.pydeps", "skip_packages", "threading", "QTimer.singleShot"):
        assert gone not in source, gone


def _top_level_imports(path: Path) -> set[str]:
    """Root package names imported at module level (also inside top-level if/try)."""
    names: set[str] = set()

    def visit(statements):
        for node in statements:
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, field, []):
                        visit(child.body if isinstance(child, ast.ExceptHandler) else [child])

    visit(ast.parse(path.read_text()).body)
    return names


def test_module_file_imports_no_heavy_package_at_load_time():
    imported = _top_level_imports(MODULE_SCRIPT)
    assert not imported & HEAVY_PACKAGES, f"BrainTumorAI.py imports {imported & HEAVY_PACKAGES} at file scope"
    assert "BrainTumorAILib" not in imported, "keep Slicer's startup light: import BrainTumorAILib lazily"
    source = MODULE_SCRIPT.read_text()
    # Torch only through the PyTorch extension: the module hands its logic to the Lib, which installs.
    dependencies = (MODULE_DIR / "BrainTumorAILib" / "dependencies.py").read_text()
    assert "PyTorchUtilsLogic" in dependencies and "installTorch(" in dependencies
    # The GUI process reads torch's version from its metadata; it never imports torch.
    assert 'importlib.metadata.version("torch")' in dependencies and ".torch." not in source + dependencies
    assert "not for clinical use" in source and "synthetic" in source


def test_lib_is_qt_free_and_torch_free_at_load_time():
    for path in sorted((MODULE_DIR / "BrainTumorAILib").glob("*.py")):
        tree = ast.parse(path.read_text())
        anywhere = {
            alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        } | {
            node.module.split(".")[0] for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
        }
        assert not anywhere & {"qt", "ctk", "PythonQt"}, f"{path.name} imports Qt"
        assert not _top_level_imports(path) & HEAVY_PACKAGES, f"{path.name} imports a heavy package at load time"


def test_requirements_leave_slicer_packages_alone_and_parse_line_by_line():
    """Each requirements file reads as ``slicer.packaging.load_requirements`` reads it (Slicer
    v5.12.0 Base/Python/slicer/packaging.py): every line that is not blank, a ``#`` comment or a
    ``-`` option is handed whole to ``packaging.requirements.Requirement``."""
    from packaging.requirements import Requirement

    files = sorted((MODULE_DIR / "Resources").glob("requirements*.txt"))
    assert [f.name for f in files] == [f"requirements-{a}.txt" for a in ("classify", "report", "sample", "survival")]
    names = set()
    for path in files:
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "-")):
                names.add(Requirement(line).name.lower())  # raises on an inline comment
    assert {"monai", "nilearn", "matplotlib"} <= names
    assert not names & {"simpleitk", "torch", "torchvision", "numpy", "vtk", "scipy", "requests"}
