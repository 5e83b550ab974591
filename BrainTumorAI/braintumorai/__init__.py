"""BrainTumorAI core: imaging, synthetic phantoms, models, saliency, survival.

Imports no slicer, qt or vtk, and no torch at import time, so that
``import braintumorai`` stays cheap inside Slicer.
"""

__version__ = "0.1.0"

from .errors import BrainTumorAIError, GeometryError, InputError, ModelError  # noqa: F401
from .modalities import MODALITIES, MRI_MODALITIES  # noqa: F401
