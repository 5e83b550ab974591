"""Which Python packages each action of the module needs, and installing the missing ones.

``Resources/requirements.txt`` names, after ``# for:`` on each line, the actions that
need the package (``classify``, ``survival``, ``sample``, ``report``), so every action
installs what it needs and nothing more, once, after one confirmation. Checking reads
metadata of installed distributions only (no import, no pip), so it is cheap to do at
every click. SimpleITK, numpy, vtk and torch must never be listed: Slicer ships its own
and torch must match the user's GPU (the PyTorch extension installs it).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

from packaging.requirements import Requirement

from braintumorai.errors import BrainTumorAIError

# Packages Slicer or the PyTorch extension provide; pip must never replace them.
PROTECTED_PACKAGES = ("simpleitk", "torch", "torchvision", "numpy", "vtk")
MINIMUM_TORCH_VERSION = "2.2"
ACTIONS = ("classify", "survival", "sample", "report")
# Actions that run a network: they need torch, from the PyTorch extension.
TORCH_ACTIONS = ("classify", "survival")
_FOR = "for:"


def read_requirements(path: Union[str, Path], action: Optional[str] = None) -> list[str]:
    """Requirement strings of a requirements file, those ``action`` needs when given.

    Raises BrainTumorAIError when the file names a protected package, a line names an
    unknown action, or ``action`` is unknown.
    """
    if action is not None and action not in ACTIONS:
        raise BrainTumorAIError(f"Unknown action '{action}'; use one of {', '.join(ACTIONS)}.")
    requirements = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        text, _, comment = line.partition("#")
        text = text.strip()
        if not text:
            continue
        requirement = Requirement(text)
        if requirement.name.lower() in PROTECTED_PACKAGES:
            raise BrainTumorAIError(
                f"{path} lists '{requirement.name}', which Slicer or the PyTorch extension provides; remove it."
            )
        comment = comment.strip()
        actions = [a.strip() for a in comment[len(_FOR):].split(",")] if comment.startswith(_FOR) else list(ACTIONS)
        unknown = [a for a in actions if a not in ACTIONS]
        if unknown:
            raise BrainTumorAIError(f"{path}: '{text}' is marked for unknown action(s) {', '.join(unknown)}.")
        if action is None or action in actions:
            requirements.append(text)
    return requirements


def is_satisfied(requirement: Union[str, Requirement]) -> bool:
    """Whether an installed distribution satisfies ``requirement``."""
    requirement = Requirement(str(requirement))
    try:
        version = importlib.metadata.version(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return requirement.specifier.contains(version, prereleases=True)


def missing_requirements(requirements: Iterable[str]) -> list[str]:
    """The requirements that are not installed or not in a matching version."""
    return [r for r in requirements if not is_satisfied(r)]


def protected_constraints() -> list[str]:
    """``name==version`` pins of the protected packages that are installed, for
    a pip constraints file, so that installing our requirements cannot replace them."""
    pins = []
    for name in PROTECTED_PACKAGES:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


@dataclasses.dataclass
class InstallPlan:
    """What one action still needs: ``torch`` (through the PyTorch extension) and ``packages``."""

    action: str
    torch: bool
    packages: list

    @property
    def needed(self) -> bool:
        return self.torch or bool(self.packages)

    def question(self) -> str:
        """The one confirmation the user answers."""
        items = (["PyTorch (through the PyTorch extension, the build that fits this computer)"] if self.torch else [])
        items += self.packages
        return ("BrainTumorAI needs these Python packages for this action: " + ", ".join(items) + ".\n\n"
                "Install them now? This needs a network connection and may take a few minutes.")


def install_plan(requirements_path: Union[str, Path], action: str, torch_installed: bool) -> InstallPlan:
    """What ``action`` still needs, from the requirements file and whether torch is there."""
    return InstallPlan(action, torch=action in TORCH_ACTIONS and not torch_installed,
                       packages=missing_requirements(read_requirements(requirements_path, action)))


def install_packages(packages: list, pip_ensure: Optional[Callable] = None, pip_install: Optional[Callable] = None) -> None:
    """Install ``packages`` with the protected packages pinned, without asking again.

    ``pip_ensure``: Slicer 5.12+'s ``slicer.packaging.pip_ensure``, called with
    ``constraints=`` (the pins) and ``prompt_install=False`` (the module asked already);
    else ``pip_install``: ``slicer.util.pip_install`` with ``-c constraints``.
    Raises BrainTumorAIError naming what is still missing afterwards.
    """
    if not packages:
        return
    folder = tempfile.mkdtemp(prefix="braintumorai-pip-")
    constraints = os.path.join(folder, "constraints.txt")
    try:
        with open(constraints, "w", encoding="utf-8") as stream:
            stream.write("\n".join(protected_constraints()) + "\n")
        if pip_ensure is not None:
            pip_ensure([Requirement(p) for p in packages], constraints=constraints, prompt_install=False,
                       requester="BrainTumorAI")
        elif pip_install is not None:
            pip_install(list(packages) + ["-c", constraints])
        else:
            raise BrainTumorAIError("No way to install Python packages was given; install "
                                    + ", ".join(packages) + " with pip.")
    finally:
        Path(constraints).unlink(missing_ok=True)
        os.rmdir(folder)
    still = missing_requirements(packages)
    if still:
        raise BrainTumorAIError("Could not install " + ", ".join(still) + "; see the Python console for pip's message.")


def ensure_requirements(requirements_path: Union[str, Path], action: str, torch_logic=None,
                        confirm: Optional[Callable[[str], bool]] = None, pip_ensure: Optional[Callable] = None,
                        pip_install: Optional[Callable] = None) -> bool:
    """Install what ``action`` still needs, after one confirmation; True when all is there.

    Args:
        requirements_path: Resources/requirements.txt.
        action: 'classify', 'survival', 'sample' or 'report'.
        torch_logic: the PyTorch extension's ``PyTorchUtilsLogic`` (needed for the actions that
            run a network); torch is installed through it, the build that fits the GPU, without
            a second question.
        confirm: asked once with :meth:`InstallPlan.question` when something is missing
            (None: install without asking).
        pip_ensure, pip_install: see :func:`install_packages`.

    Returns False when the user declined; raises BrainTumorAIError when the action cannot run
    (no PyTorch extension, torch too old, pip failed).
    """
    from packaging import version

    if action in TORCH_ACTIONS and torch_logic is None:
        raise BrainTumorAIError("BrainTumorAI needs the PyTorch extension; install 'PyTorch' from the Extensions "
                                "Manager and restart Slicer.")
    plan = install_plan(requirements_path, action, torch_logic is None or torch_logic.torchInstalled())
    if action in TORCH_ACTIONS and not plan.torch:
        installed = str(torch_logic.torch.__version__)
        if version.parse(installed.split("+")[0]) < version.parse(MINIMUM_TORCH_VERSION):
            raise BrainTumorAIError(f"PyTorch {installed} is too old for BrainTumorAI; use the PyTorch Utils module to "
                                    f"install a version >={MINIMUM_TORCH_VERSION}.")
    if not plan.needed:
        return True
    if confirm is not None and not confirm(plan.question()):
        return False
    if plan.torch and torch_logic.installTorch(askConfirmation=False,
                                               torchVersionRequirement=f">={MINIMUM_TORCH_VERSION}") is None:
        return False
    install_packages(plan.packages, pip_ensure=pip_ensure, pip_install=pip_install)
    return True
