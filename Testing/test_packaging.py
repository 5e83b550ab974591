"""Packaging integrity of the Slicer extension: what the Extension Manager builds
and what Slicer loads must match the source tree."""

from __future__ import annotations

import ast
import json
import re
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "BrainTumorAI"
MODULE_SCRIPT = MODULE_DIR / "BrainTumorAI.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "BrainTumorAI.ui"
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
    for kind in ("Resources/Icons/BrainTumorAI.png", "Resources/requirements.txt"):
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
    """Icon and screenshots (the URLs the Extensions Manager shows), the README's pictures and
    the scripts that write them all point into Resources/; docs/ is gone."""
    assert not (ROOT / "docs").exists()
    cmake = (ROOT / "CMakeLists.txt").read_text()
    prefix = "https://raw.githubusercontent.com/braintumorai/SlicerBrainTumorAI/main/"
    icon = re.search(r'set\(EXTENSION_ICONURL\s+"([^"]+)"', cmake).group(1)
    screenshots = re.search(r'set\(EXTENSION_SCREENSHOTURLS\s+"([^"]+)"', cmake).group(1).split()
    assert screenshots and icon.startswith(prefix + "Resources/")
    for url in [icon, *screenshots]:
        assert url.startswith(prefix + "Resources/") and (ROOT / url[len(prefix):]).is_file(), url
    readme = (ROOT / "README.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert "Resources/Screenshots/slice-views.png" in pictures
    for path in pictures:
        assert path.startswith("Resources/") and (ROOT / path).is_file(), path
    for script in ("training/montage.py", "Utilities/render_screenshots.py"):
        text = (ROOT / script).read_text()
        assert "docs/" not in text and '"docs"' not in text, script


@pytest.mark.parametrize("path", ["Resources/Icons/BrainTumorAI.png", "BrainTumorAI/Resources/Icons/BrainTumorAI.png"])
def test_icon_is_a_128_pixel_png(path):
    data = (ROOT / path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (128, 128)


def ui_widgets() -> dict[str, ET.Element]:
    tree = ET.parse(UI_FILE)  # fails the test when the .ui is not well-formed
    return {w.get("name"): w for w in tree.iter("widget")}


def parameter_fields() -> dict[str, str]:
    """Field name -> annotation source of BrainTumorAIParameterNode."""
    module = ast.parse(MODULE_SCRIPT.read_text())
    for node in module.body:
        if isinstance(node, ast.ClassDef) and node.name == "BrainTumorAIParameterNode":
            assert any(ast.unparse(d) == "parameterNodeWrapper" for d in node.decorator_list)
            return {
                s.target.id: ast.unparse(s.annotation) for s in node.body if isinstance(s, ast.AnnAssign)
            }
    raise AssertionError("BrainTumorAIParameterNode is missing from BrainTumorAI.py")


def test_every_widget_the_module_uses_exists_in_the_ui():
    widgets = ui_widgets()
    source = MODULE_SCRIPT.read_text()
    used = set(re.findall(r"\bui\.(\w+)", source))
    # Buttons are connected by name in a loop: "<name>Button" -> on<Name>.
    loop = re.search(r'for name in \(("autoAssign".*?)\):', source).group(1)
    used |= {f"{name}Button" for name in re.findall(r'"(\w+)"', loop)}
    assert {"classifyButton", "predictSurvivalButton", "autoAssignButton", "cancelButton", "jumpToHotspotButton",
            "exportReportButton", "refreshVisitsButton"} <= used
    missing = sorted(used - set(widgets))
    assert not missing, f"BrainTumorAI.py uses widgets the .ui does not define: {missing}"
    for name in ("referenceComboBox", "useCPUCheckBox", "registerCheckBox", "saliencyMethodComboBox",
                 "explainClassComboBox", "progressBar", "statusLabel", "resultsTable", "modalityWeightsLabel",
                 "warningsLabel", "visitsTable", "opacitySliderWidget", "thresholdSliderWidget", "survivalLabel"):
        assert name in widgets, f"{name} is missing from the .ui"
    for name in re.findall(r'for name in \(("autoAssign".*?)\):', source)[0].replace('"', "").split(", "):
        assert f"def on{name[0].upper()}{name[1:]}(" in source, f"no slot for {name}Button"


def test_the_module_file_is_widget_wiring_only():
    lines = MODULE_SCRIPT.read_text().splitlines()
    assert len(lines) <= 440, f"BrainTumorAI.py has {len(lines)} lines; move logic into BrainTumorAILib"
    source = "\n".join(lines)
    for gone in ("slicer.pydeps", "skip_packages", "threading", "QTimer.singleShot"):
        assert gone not in source, gone


def test_ui_selectors_are_bound_to_parameter_node_fields():
    widgets = ui_widgets()
    fields = parameter_fields()
    for modality in ("t1", "t1c", "t2", "flair", "ct", "pet"):
        selector = widgets[f"{modality}Selector"]
        assert selector.get("class") == "qMRMLNodeComboBox"
        node_types = [s.text for s in selector.iter("string") if s.text and s.text.startswith("vtkMRML")]
        assert node_types == ["vtkMRMLScalarVolumeNode"]
        assert fields[f"{modality}Volume"] == "vtkMRMLScalarVolumeNode"

    bound = {}
    for name, widget in widgets.items():
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[name] = prop.find("string").text
    assert set(bound.values()) <= set(fields), f"unknown parameters: {set(bound.values()) - set(fields)}"
    assert bound["referenceComboBox"] == "referenceModality" and "Choice" in fields["referenceModality"]
    assert bound["saliencyMethodComboBox"] == "saliencyMethod" and "Choice" in fields["saliencyMethod"]
    assert bound["useCPUCheckBox"] == "useCPU" and fields["useCPU"] == "bool"
    assert bound["registerCheckBox"] == "registerIfNeeded" and fields["registerIfNeeded"] == "bool"
    assert fields["overlayOpacity"] == fields["overlayThreshold"] == "float"
    assert bound["opacitySliderWidget"] == "overlayOpacity" and bound["thresholdSliderWidget"] == "overlayThreshold"
    # ctkPathLineEdit binds to pathlib.Path; the sex selector's choices are the strings the Lib reads.
    assert fields["modelPath"] == fields["prognosisModelPath"] == "Path"
    assert bound["ageSpinBox"] == "ageYears" and bound["kpsSpinBox"] == "kps" and bound["sexComboBox"] == "patientSex"
    from BrainTumorAILib.panel_options import SALIENCY_METHODS

    choices = re.search(r"SALIENCY_CHOICES = (\[.*?\])", MODULE_SCRIPT.read_text()).group(1)
    assert ast.literal_eval(choices) == list(SALIENCY_METHODS)

    # Every selector is given the scene by the top-level widget.
    tree = ET.parse(UI_FILE)
    receivers = {c.findtext("receiver") for c in tree.iter("connection")
                 if c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"}
    assert {f"{m}Selector" for m in ("t1", "t1c", "t2", "flair", "ct", "pet")} <= receivers


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
    assert "PyTorchUtilsLogic" in source and "installTorch(" in (MODULE_DIR / "BrainTumorAILib" / "dependencies.py").read_text()
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


def test_requirements_leave_slicer_packages_alone():
    lines = [
        line.split("#")[0].strip() for line in (MODULE_DIR / "Resources" / "requirements.txt").read_text().splitlines()
    ]
    names = {re.split(r"[<>=!~\[; ]", line)[0].lower() for line in lines if line}
    assert {"monai", "nilearn", "matplotlib"} <= names
    assert not names & {"simpleitk", "torch", "torchvision", "numpy", "vtk"}
