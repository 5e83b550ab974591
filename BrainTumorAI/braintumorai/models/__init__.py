"""Neural networks of BrainTumorAI (imports torch and MONAI; import on demand).

- :class:`ModalityAttentionNet` — the tumour classifier over any subset of modalities.
- :class:`PrognosisGRU` — survival curves from a patient's visits (an ensemble of GRUs).
- :class:`CompactEncoder`, :class:`ResNetEncoder` — per-modality 3-D encoders.
- :func:`load_medicalnet_weights` — MedicalNet 1-channel ResNet weights into a ResNet encoder.
- :class:`ReconstructionPretrainer`, :func:`freeze_encoder`, :func:`unfreeze_encoder`,
  :func:`load_encoder_weights` — self-supervised pretraining and fine-tuning schedule.
"""

from .attention import ModalityAttention, drop_modalities, masked_softmax
from .encoders import ENCODERS, CompactEncoder, ResNetEncoder, build_encoder
from .medicalnet import load_medicalnet_weights
from .modality_attention_net import ModalityAttentionNet, ModalityAttentionOutput
from .prognosis_gru import PrognosisGRU
from .pretraining import (
    ReconstructionPretrainer,
    freeze_encoder,
    load_encoder_weights,
    unfreeze_encoder,
)

# Architectures a model card may name; checkpoints.load_checkpoint builds from this table.
ARCHITECTURES = {ModalityAttentionNet.architecture: ModalityAttentionNet, PrognosisGRU.architecture: PrognosisGRU}

__all__ = [
    "ARCHITECTURES", "ENCODERS", "CompactEncoder", "ModalityAttention", "ModalityAttentionNet",
    "ModalityAttentionOutput", "PrognosisGRU", "ReconstructionPretrainer", "ResNetEncoder", "build_encoder",
    "drop_modalities", "freeze_encoder", "load_encoder_weights", "load_medicalnet_weights",
    "masked_softmax", "unfreeze_encoder",
]
