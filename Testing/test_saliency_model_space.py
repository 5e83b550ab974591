"""Grad-CAM, Grad-CAM++ and occlusion in model space: right place, right shape, [0, 1]."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from braintumorai.errors import ModelError
from braintumorai.models import ModalityAttentionNet
from braintumorai.saliency import gradcam, occlusion

# A non-cubic grid and an off-centre blob, so a swapped or flipped axis cannot pass.
SIZE = (24, 32, 40)  # (D, H, W) = numpy (z, y, x)
BLOB = (10, 22, 29)
MODALITIES = ("T1C", "FLAIR", "PET")


def make_batch(n, generator):
    """Noisy "brain" (an ellipsoid, zero outside, like normalised model-grid volumes).
    Class 1 ("tumour") has a bright ball at BLOB in T1C and FLAIR; class 0 has none."""
    y = torch.randint(0, 2, (n,), generator=generator)
    zz, yy, xx = torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in SIZE], indexing="ij")
    centre = [(s - 1) / 2 for s in SIZE]
    brain = ((zz - centre[0]) / 10) ** 2 + ((yy - centre[1]) / 14) ** 2 + ((xx - centre[2]) / 17) ** 2 <= 1
    x = torch.randn((n, 3, *SIZE), generator=generator) * 0.3 * brain
    ball = torch.exp(-((zz - BLOB[0]) ** 2 + (yy - BLOB[1]) ** 2 + (xx - BLOB[2]) ** 2) / (2 * 2.5**2))
    x[y == 1, :2] += 3.0 * ball
    return x, y


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = ModalityAttentionNet(
        ("no_tumor", "tumour"), modalities=MODALITIES, embed_dim=16, attention_hidden=8, modality_dropout=0.0,
        encoder_kwargs=dict(channels=(8, 16, 16), strides=(2, 2, 1), blocks=(0, 1)),
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    present = torch.tensor([True, True, False]).expand(8, -1)
    model.train()
    for _ in range(50):
        x, y = make_batch(8, g)
        loss = F.cross_entropy(model(x, present).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x, y = make_batch(40, torch.Generator().manual_seed(7))
    with torch.no_grad():
        assert (model(x, present[:1].expand(40, -1)).logits.argmax(1) == y).float().mean() > 0.9
    x = make_batch(64, torch.Generator().manual_seed(3))
    case = x[0][x[1] == 1][:1]
    return model, case, torch.tensor([True, True, False])


def _peak(a):
    return np.array(np.unravel_index(np.argmax(a), a.shape))


def _check_map(a):
    assert a.shape == SIZE and a.dtype == np.float32
    assert np.all(np.isfinite(a)) and a.min() >= 0.0 and a.max() <= 1.0
    assert a.max() == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_gradcam_peaks_at_the_blob(trained, method):
    model, case, present = trained
    fused, per_modality = gradcam(model, case, present, class_index=1, method=method)
    _check_map(fused)
    # feature cells are 4 voxels wide: the peak lies in the blob's cell or the next one, on every axis
    assert np.all(np.abs(_peak(fused) - BLOB) <= 5), _peak(fused)
    near = fused[BLOB[0] - 3:BLOB[0] + 4, BLOB[1] - 3:BLOB[1] + 4, BLOB[2] - 3:BLOB[2] + 4].mean()
    assert near > 3 * fused.mean()
    # one map per present modality, in [0, 1], adding up to the fused map
    assert set(per_modality) == {"T1C", "FLAIR"}
    for a in per_modality.values():
        assert a.shape == SIZE and np.all(np.isfinite(a)) and a.min() >= 0 and a.max() <= 1
    np.testing.assert_allclose(per_modality["T1C"] + per_modality["FLAIR"], fused, atol=1e-5)


def test_gradcam_leaves_the_model_as_it_was(trained):
    model, case, present = trained
    with torch.no_grad():
        before = model(case, present[None]).logits
    gradcam(model, case[0].numpy(), present.numpy())  # (M, D, H, W) numpy input, predicted class
    assert not model.training
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():
        assert torch.equal(model(case, present[None]).logits, before)
    model.train()
    gradcam(model, case, present)
    assert model.training
    model.eval()


def test_occlusion_peaks_at_the_blob(trained):
    model, case, present = trained
    fused, per_modality = occlusion(model, case, present, class_index=1, mask_size=8, overlap=0.25,
                                    n_batch=32, per_modality=True)
    _check_map(fused)
    assert np.all(np.abs(_peak(fused) - BLOB) <= 4), _peak(fused)
    assert set(per_modality) == {"T1C", "FLAIR"}
    for a in per_modality.values():
        assert a.shape == SIZE and np.all(np.isfinite(a)) and a.min() >= 0 and a.max() <= 1
    assert not model.training


def test_saliency_input_errors(trained):
    model, case, present = trained
    with pytest.raises(ModelError, match="expects 3"):
        gradcam(model, case[:, :2], present[:2])
    with pytest.raises(ModelError, match="at least one"):
        gradcam(model, case, torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ModelError, match="gradcam"):
        gradcam(model, case, present, method="lime")
    with pytest.raises(ModelError, match="out of range"):
        occlusion(model, case, present, class_index=5, mask_size=8)


@pytest.mark.parametrize("stride", [4, 8])
def test_feature_cells_land_on_the_voxels_strided_convolutions_centre_them(stride):
    """Cell q of a stride-s encoder sees input voxels centred on s*q: a one-hot cell map
    must peak exactly there, and a real strided conv stack must agree."""
    from braintumorai.saliency import cells_to_voxels

    spatial = (40, 48, 40)
    cells = tuple(-(-n // stride) for n in spatial)
    one_hot = torch.zeros((1, 1) + cells)
    one_hot[0, 0, 2, 3, 1] = 1.0
    up = cells_to_voxels(one_hot, spatial, stride)[0, 0]
    assert tuple(up.shape) == spatial
    assert np.unravel_index(int(up.argmax()), spatial) == (2 * stride, 3 * stride, stride)

    # The receptive-field centre of a stack of 3x3x3 / stride-2 / padding-1 convolutions.
    convs = torch.nn.Sequential(*[torch.nn.Conv3d(1, 1, 3, stride=2, padding=1, bias=False)
                                  for _ in range(int(np.log2(stride)))])
    for conv in convs:
        torch.nn.init.constant_(conv.weight, 1.0)
    x = torch.zeros((1, 1) + spatial, requires_grad=True)
    convs(x)[0, 0, 2, 3, 1].backward()
    grad = x.grad[0, 0].numpy()
    centre = [float((np.arange(n) * grad.sum(axis=tuple(a for a in range(3) if a != axis))).sum() / grad.sum())
              for axis, n in enumerate(spatial)]
    assert np.allclose(centre, (2 * stride, 3 * stride, stride), atol=1e-6)
