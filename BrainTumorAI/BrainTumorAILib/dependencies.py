"""Which Python packages each action of the module needs, and installing the missing ones.

``Resources/requirements-<action>.txt`` lists what one action needs (``classify``,
``survival``, ``sample``, ``report``), one plain requirement a line, so that Slicer's own
``slicer.packaging.load_requirements`` (which hands every line that is not a comment to
``packaging.requirements.Requirement``) reads them too. Every action installs what it needs
and nothing more, once, after one confirmation. Checking reads metadata of installed
distributions only (no import, no pip; torch's version too, so the GUI process never imports
torch), so it is cheap to do at every click. What Slicer ships (SimpleITK, numpy, vtk, scipy,
requests) and torch (the PyTorch extension installs the build that fits the GPU) must never
be listed, and are pinned while pip runs.
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
PROTECTED_PACKAGES = ("simpleitk", "torch", "torchvision", "numpy", "vtk", "scipy", "requests")
MINIMUM_TORCH_VERSION = "2.2"
ACTIONS = ("classify", "survival", "sample", "report")
# Actions that run a network: they need torch, from the PyTorch extension.
TORCH_ACTIONS = ("classify", "survival")
REQUIREMENTS_FILE = "requirements-{action}.txt"


def requirements_path(resources: Union[str, Path], action: str) -> Path:
    """``<resources>/requirements-<action>.txt``; raises BrainTumorAIError for an unknown action."""
    if action not in ACTIONS:
        raise BrainTumorAIError(f"Unknown action '{action}'; use one of {', '.join(ACTIONS)}.")
    return Path(resources) / REQUIREMENTS_FILE.format(action=action)


def read_requirements(path: Union[str, Path]) -> list[str]:
    """Requirement strings of a plain requirements file, read as ``slicer.packaging.load_requirements``
    reads it: blank lines, ``#`` comment lines and ``-`` option lines are skipped, every other line
    must be one ``packaging.requirements.Requirement`` (no inline comment).

    Raises BrainTumorAIError when a line is not a requirement or names a protected package.
    """
    from packaging.requirements import InvalidRequirement

    requirements = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith(("#", "-")):
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            raise BrainTumorAIError(f"{path}, line {number}: '{text}' is not a requirement ({error}); "
                                    "write one requirement a line, comments on lines of their own.") from error
        if requirement.name.lower() in PROTECTED_PACKAGES:
            raise BrainTumorAIError(
                f"{path} lists '{requirement.name}', which Slicer or the PyTorch extension provides; remove it."
            )
        requirements.append(text)
    return requirements


def action_requirements(resources: Union[str, Path], action: str) -> list[str]:
    """What ``action`` needs, from its requirements file under ``resources``."""
    return read_requirements(requirements_path(resources, action))


def torch_version() -> Optional[str]:
    """The installed torch's version ("2.5.1+cu121"), from its metadata; None when not installed.
    Importing torch to ask would load it into Slicer's GUI process."""
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


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


def install_plan(resources: Union[str, Path], action: str, torch_installed: bool) -> InstallPlan:
    """What ``action`` still needs, from its requirements file and whether torch is there."""
    return InstallPlan(action, torch=action in TORCH_ACTIONS and not torch_installed,
                       packages=missing_requirements(action_requirements(resources, action)))


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


def ensure_requirements(resources: Union[str, Path], action: str, torch_logic=None,
                        confirm: Optional[Callable[[str], bool]] = None, pip_ensure: Optional[Callable] = None,
                        pip_install: Optional[Callable] = None,
                        install_extension: Optional[Callable[[], bool]] = None,
                        installed_torch: Optional[Callable[[], Optional[str]]] = None) -> bool:
    """Install what ``action`` still needs, after one confirmation; True when all is there.

    Args:
        resources: the module's Resources folder (``requirements-<action>.txt``).
        action: 'classify', 'survival', 'sample' or 'report'.
        torch_logic: the PyTorch extension's ``PyTorchUtilsLogic`` or None when the extension
            is missing; needed only when torch is not installed yet: torch is installed through
            it, the build that fits the GPU, without a second question.
        confirm: asked once with :meth:`InstallPlan.question` when something is missing
            (None: install without asking).
        pip_ensure, pip_install: see :func:`install_packages`.
        install_extension: offers the missing PyTorch extension for install (asks, installs it
            from the Extensions server, restarts Slicer); returns False when declined. None:
            the missing extension is an error.
        installed_torch: the installed torch version or None (default :func:`torch_version`).

    Returns False when the user declined; raises BrainTumorAIError when the action cannot run
    (no PyTorch extension, torch too old, pip failed).
    """
    from packaging import version

    installed = (installed_torch or torch_version)()
    if action in TORCH_ACTIONS and installed is None and torch_logic is None:
        if install_extension is not None:
            install_extension()
            return False  # the extension needs a restart before torch can be installed through it
        raise BrainTumorAIError("BrainTumorAI needs the PyTorch extension; install 'PyTorch' from the Extensions "
                                "Manager and restart Slicer.")
    plan = install_plan(resources, action, installed is not None)
    if action in TORCH_ACTIONS and installed is not None:
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


# The module's Resources folder (requirements-<action>.txt).
RESOURCES = Path(__file__).resolve().parents[1] / "Resources"


def ensure_in_slicer(action: str, confirm: Optional[Callable[[str], bool]] = None,
                     install_extension: Optional[Callable[[], bool]] = None) -> bool:
    """:func:`ensure_requirements` with what the running Slicer has: the PyTorch extension's logic
    (looked up only when torch is missing), ``slicer.packaging.pip_ensure`` (5.12+) or
    ``slicer.util.pip_install`` (5.10)."""
    import slicer.util

    torch_logic = None
    if action in TORCH_ACTIONS and torch_version() is None:  # the extension is needed to install torch only
        try:
            from PyTorchUtils import PyTorchUtilsLogic

            torch_logic = PyTorchUtilsLogic()
        except ImportError:
            pass
    try:
        from slicer.packaging import pip_ensure
    except ImportError:
        pip_ensure = None
    return ensure_requirements(RESOURCES, action, torch_logic, confirm, pip_ensure=pip_ensure,
                               pip_install=getattr(slicer.util, "pip_install", None),
                               install_extension=install_extension)
