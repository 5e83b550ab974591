"""One exception family for everything BrainTumorAI refuses.

Every message is one sentence that says what is wrong and what to do, so the
Slicer module and the CLI can show it to the user as it is.
"""


class BrainTumorAIError(Exception):
    """Base class of every error BrainTumorAI raises on purpose."""


class InputError(BrainTumorAIError, ValueError):
    """The user's input is unusable: missing or unreadable file, wrong dimension,
    empty, constant or non-finite volume, unknown or duplicate modality."""


class GeometryError(BrainTumorAIError):
    """Volumes do not share physical space (not co-registered) or a geometry
    transform cannot be inverted."""


class ModelError(BrainTumorAIError):
    """A checkpoint or model card is corrupt, mismatched or does not fit the input."""
