"""What each action of the module installs, and how (BrainTumorAILib.dependencies), and the
reload order of the Lib (BrainTumorAILib.reloading)."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from BrainTumorAILib.dependencies import (
    RESOURCES,
    action_requirements,
    ensure_requirements,
    is_satisfied,
    protected_constraints,
    read_requirements,
    torch_version,
)


def names(action: str) -> set:
    from packaging.requirements import Requirement

    return {Requirement(r).name.lower() for r in action_requirements(RESOURCES, action)}


def test_each_action_needs_only_its_own_packages_and_never_a_protected_one(tmp_path):
    assert names("classify") == {"monai"}  # no lifelines, no nilearn for Classify
    assert names("survival") == {"monai", "matplotlib"}
    assert names("sample") == {"nilearn"} and names("report") == {"matplotlib"}
    with pytest.raises(Exception, match="Unknown action 'segment'"):
        action_requirements(RESOURCES, "segment")
    bad = tmp_path / "requirements.txt"
    for protected in ("SimpleITK>=2.2", "scipy", "requests>=2"):
        bad.write_text(f"monai>=1.3\n{protected}\n")
        with pytest.raises(Exception, match="Slicer or the PyTorch extension provides"):
            read_requirements(bad)
    bad.write_text("# a comment line is fine\n-c constraints.txt\nmonai>=1.3  # for: classify\n")
    with pytest.raises(Exception, match="line 3: 'monai>=1.3  # for: classify' is not a requirement"):
        read_requirements(bad)  # what slicer.packaging.load_requirements would choke on
    assert is_satisfied("numpy>=1.0")
    assert not is_satisfied("numpy<1.0")
    assert not is_satisfied("braintumorai-no-such-package")
    pins = protected_constraints()
    assert any(p.startswith("scipy==") for p in pins) and any(p.startswith("numpy==") for p in pins)


class FakeTorchLogic:
    """The PyTorch extension's logic as far as BrainTumorAI uses it: installTorch only (torch's
    version is read from its metadata, never from this object)."""

    def __init__(self, accept=True):
        self.accept, self.calls = accept, []

    def installTorch(self, **kwargs):
        self.calls.append(kwargs)
        return types.SimpleNamespace(__version__="2.5.1") if self.accept else None


def resources_with(tmp_path, **files) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for action in ("classify", "survival", "sample", "report"):
        (tmp_path / f"requirements-{action}.txt").write_text(files.get(action, ""))
    return tmp_path


def test_missing_packages_are_installed_after_one_question_with_the_constraints(tmp_path):
    resources = resources_with(tmp_path, classify="braintumorai-no-such-package>=1\n", report="packaging>=20\n")
    questions, ensured = [], []

    def pip_ensure(requirements, **kwargs):
        ensured.append(([str(r) for r in requirements], kwargs, Path(kwargs["constraints"]).read_text()))

    def confirm(text):
        questions.append(text)
        return True

    no_torch, old_torch, torch = (lambda: None), (lambda: "1.13.1"), (lambda: "2.5.1+cu121")
    logic = FakeTorchLogic()
    with pytest.raises(Exception, match="Could not install braintumorai-no-such-package"):
        ensure_requirements(resources, "classify", logic, confirm, pip_ensure=pip_ensure, installed_torch=no_torch)
    assert len(questions) == 1 and "PyTorch" in questions[0] and "braintumorai-no-such-package" in questions[0]
    assert logic.calls == [{"askConfirmation": False, "torchVersionRequirement": ">=2.2"}]  # no second question
    (packages, kwargs, constraints), = ensured
    assert packages == ["braintumorai-no-such-package>=1"]
    assert kwargs["prompt_install"] is False and "skip_packages" not in kwargs
    assert "numpy==" in constraints and "simpleitk==" in constraints.lower() and "scipy==" in constraints

    # Nothing missing: no question; declined: nothing installed; old torch: one sentence.
    assert ensure_requirements(resources, "report", None, confirm) and len(questions) == 1
    assert ensure_requirements(resources, "classify", None, lambda text: False, installed_torch=torch) is False
    assert len(ensured) == 1
    with pytest.raises(Exception, match="too old"):
        ensure_requirements(resources, "classify", None, confirm, installed_torch=old_torch)
    # torch there, no PyTorch extension: fine, the extension is needed only to install torch.
    assert ensure_requirements(resources_with(tmp_path / "ok"), "survival", None, confirm, installed_torch=torch)
    installed = []  # before Slicer 5.12: pip_install with the constraints file
    with pytest.raises(Exception, match="Could not install"):
        ensure_requirements(resources, "classify", None, None, pip_install=installed.append, installed_torch=torch)
    assert installed[0][:1] == ["braintumorai-no-such-package>=1"] and installed[0][1] == "-c"


def test_a_missing_pytorch_extension_is_offered_for_install_instead_of_an_error(tmp_path):
    resources = resources_with(tmp_path)
    offered = []
    assert ensure_requirements(resources, "classify", None, lambda text: True, installed_torch=lambda: None,
                               install_extension=lambda: offered.append(1) or True) is False  # restart first
    assert offered == [1]
    with pytest.raises(Exception, match="needs the PyTorch extension"):  # where it cannot be offered (scripts)
        ensure_requirements(resources, "survival", None, None, installed_torch=lambda: None)
    assert ensure_requirements(resources, "sample", None, None, installed_torch=lambda: None)  # needs no torch


def test_torch_version_comes_from_metadata_without_importing_torch():
    import importlib.metadata
    import sys

    had_torch = "torch" in sys.modules
    try:
        expected = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        expected = None
    assert torch_version() == expected
    assert ("torch" in sys.modules) == had_torch


def test_in_this_environment_every_action_is_ready_without_installing():
    """The module logic's path (``ensure_in_slicer``) on slicer-core: no PyTorch extension, no pip;
    torch, monai, matplotlib and nilearn are installed here, so nothing is asked."""
    pytest.importorskip("torch")
    from BrainTumorAILib.dependencies import ensure_in_slicer

    def refuse(text):
        raise AssertionError(f"asked: {text}")

    for action in ("classify", "survival", "sample", "report"):
        assert ensure_in_slicer(action, refuse)


def test_reload_order_puts_every_module_after_what_it_imports():
    from BrainTumorAILib.reloading import _relative_imports, reload_order

    order = reload_order()
    assert order[-1] == "BrainTumorAILib" and len(order) == len(set(order))
    package = Path(__file__).resolve().parents[1] / "BrainTumorAI" / "BrainTumorAILib"
    assert {name.split(".")[-1] for name in order[:-1]} == {p.stem for p in package.glob("*.py")} - {"__init__"}
    position = {name.split(".")[-1]: index for index, name in enumerate(order)}
    for path in package.glob("*.py"):
        if path.stem != "__init__":
            for dependency in _relative_imports(path):
                assert position[dependency] < position[path.stem], (dependency, path.stem)
