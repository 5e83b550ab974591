"""BrainTumorAI core: imaging, synthetic phantoms, models, saliency, survival.

Imports no slicer, qt or vtk, and no torch at import time, so that
``import braintumorai`` stays cheap inside Slicer.
"""

__version__ = "0.1.0"

from .errors import BrainTumorAIError, GeometryError, InputError, ModelError  # noqa: F401


def __getattr__(name):
    # Read on first use: importing the package runs no import of its own beyond errors (which
    # imports nothing), so the command line's first milliseconds hold nothing a Ctrl-C could
    # break off with a traceback.
    if name in ("MODALITIES", "MRI_MODALITIES"):
        from . import modalities

        return getattr(modalities, name)
    raise AttributeError(f"module 'braintumorai' has no attribute {name!r}")
