"""Which Python packages the module still needs, from Resources/requirements.txt.

Only reads metadata of installed distributions (no import, no pip), so it is
cheap to call each time the user clicks Classify. Installing is left to the GUI
(``BrainTumorAI.py``): torch through the PyTorch extension, the rest with one
confirmation. SimpleITK and torch must never appear in the requirements: Slicer
ships its own SimpleITK and torch must match the user's GPU.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Iterable, Union

from packaging.requirements import Requirement

from braintumorai.errors import BrainTumorAIError

# Packages Slicer or the PyTorch extension provide; pip must never replace them.
PROTECTED_PACKAGES = ("simpleitk", "torch", "torchvision", "numpy", "vtk")

MINIMUM_TORCH_VERSION = "2.2"


def read_requirements(path: Union[str, Path]) -> list[str]:
    """Requirement strings of a requirements file (comments and blank lines dropped).

    Raises BrainTumorAIError when the file names a protected package.
    """
    requirements = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        if requirement.name.lower() in PROTECTED_PACKAGES:
            raise BrainTumorAIError(
                f"{path} lists '{requirement.name}', which Slicer or the PyTorch extension provides; remove it."
            )
        requirements.append(line)
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
