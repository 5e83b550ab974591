"""Qt side of the BrainTumorAI panel (BrainTumorAILib stays Qt-free): the controller's view."""

from .panel_view import PanelView

__all__ = ["PanelView"]
