"""ModalityAttentionNet, encoders, MedicalNet loading and pretraining (random tensors)."""

import pytest
import torch
import torch.nn.functional as F

from braintumorai.errors import ModelError
from braintumorai.models import (
    CompactEncoder,
    ModalityAttentionNet,
    ReconstructionPretrainer,
    ResNetEncoder,
    drop_modalities,
    freeze_encoder,
    load_encoder_weights,
    load_medicalnet_weights,
    unfreeze_encoder,
)

TINY = dict(encoder_kwargs=dict(channels=(8, 16, 16), strides=(2, 2, 1), blocks=(0, 1)), embed_dim=16,
            attention_hidden=8)
CLASSES = ("glioblastoma", "metastasis", "no_tumor")


def tiny_model(**kw):
    torch.manual_seed(0)
    return ModalityAttentionNet(CLASSES, **{**TINY, **kw})


def inputs(b=3, size=(16, 20, 24), seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((b, 6, *size), generator=g)
    present = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1]], dtype=torch.bool)[:b]
    return x, present


def test_output_shapes_and_grid():
    model = tiny_model().eval()
    x, present = inputs()
    out = model(x, present)
    assert out.logits.shape == (3, 3)
    assert out.modality_weights.shape == (3, 6)
    assert out.voxel_weights.shape == (3, 6, 4, 5, 6)  # input / stride 4, (D, H, W) order kept
    assert out.fused.shape == (3, 16, 4, 5, 6)
    assert torch.equal(out.present, present)
    assert model.encoder.stride == 4


def test_weights_sum_to_one_over_present_and_are_exactly_zero_for_absent():
    model = tiny_model().eval()
    x, present = inputs()
    out = model(x, present)
    torch.testing.assert_close(out.modality_weights.sum(1), torch.ones(3))
    torch.testing.assert_close(out.voxel_weights.sum(1), torch.ones(3, 4, 5, 6))
    assert torch.all(out.modality_weights[~present] == 0)
    assert torch.all(out.voxel_weights[~present] == 0)
    assert torch.all(out.modality_weights[present] > 0)
    assert out.modality_weights[2, 5] == 1.0  # a single present modality takes all the weight


@pytest.mark.parametrize("training", [False, True])
def test_absent_modality_voxels_change_nothing(training):
    model = tiny_model(modality_dropout=0.3).train(training)
    x, present = inputs()
    x2 = x.clone()
    x2[~present] = torch.randn_like(x2[~present]) * 100 + 7  # wild values in every absent channel
    torch.manual_seed(5)
    a = model(x, present)
    torch.manual_seed(5)
    b = model(x2, present)
    for field in ("logits", "modality_weights", "voxel_weights", "fused"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    # and no gradient reaches an absent channel
    xg = x.clone().requires_grad_(True)
    model(xg, present).logits.sum().backward()
    assert torch.all(xg.grad[~present] == 0)
    assert xg.grad[present].abs().sum() > 0


def test_single_modality_logits_are_the_answer_for_that_modality_alone():
    model = tiny_model().eval()
    x, present = inputs()
    assert model(x, present).modality_logits is None  # only computed when asked for
    _, _, _, used, feats = model.forward_features(x, present)
    single = model.single_modality_logits(feats, used)
    assert single.shape == (3, 6, 3)
    assert torch.all(single[~present] == 0)
    for b, m in present.nonzero().tolist():
        alone = torch.zeros(1, 6, dtype=torch.bool)
        alone[0, m] = True
        torch.testing.assert_close(single[b, m], model(x[b:b + 1], alone).logits[0], rtol=1e-4, atol=1e-5)


def test_training_forward_returns_logits_for_every_used_modality_when_asked():
    model = tiny_model(modality_dropout=0.5).train()
    x, present = inputs()
    assert model(x, present).modality_logits is None
    out = model(x, present, with_modality_logits=True)
    assert out.modality_logits.shape == (3, 6, 3)
    assert torch.all(out.modality_logits[~out.present] == 0)
    assert torch.all(out.modality_logits[out.present].abs().sum(1) > 0)
    # the per-modality loss reaches the projection of every used modality
    out.modality_logits[out.present].logsumexp(1).sum().backward()
    used = out.present.any(0)
    assert torch.all(model.project_weight.grad[used].abs().sum((1, 2)) > 0)
    assert torch.all(model.project_weight.grad[~used] == 0)


def test_modality_dropout_keeps_at_least_one_present():
    g = torch.Generator().manual_seed(0)
    present = torch.rand((2000, 6), generator=g) < 0.6
    present[~present.any(1), 0] = True
    dropped = drop_modalities(present, 0.9, generator=g)
    assert torch.all(dropped.any(1))
    assert not torch.any(dropped & ~present)  # never switches an absent modality on
    assert dropped.sum() < 0.7 * present.sum()  # it really drops
    # Every subset size is drawn: single modalities are common, not a rare accident.
    sizes = dropped[present.sum(1) == 4].sum(1)
    assert all(0.15 < float((sizes == k).float().mean()) < 0.35 for k in (1, 2, 3))
    assert torch.equal(drop_modalities(present, 0.0), present)
    # inside the model: only in training
    model = tiny_model(modality_dropout=0.9)
    x, pr = inputs()
    used = model.train()(x, pr).present
    assert torch.all(used.any(1)) and not torch.any(used & ~pr)
    assert torch.equal(model.eval()(x, pr).present, pr)


def test_bad_inputs_give_model_errors():
    model = tiny_model().eval()
    x, present = inputs()
    with pytest.raises(ModelError, match="at least one"):
        model(x, torch.zeros_like(present))
    with pytest.raises(ModelError, match=r"\(batch, 6"):
        model(x[:, :4], present[:, :4])
    with pytest.raises(ModelError, match="Presence flags"):
        model(x, present[:, :5])
    with pytest.raises(ModelError, match="Unknown encoder"):
        ModalityAttentionNet(CLASSES, encoder="vgg")
    with pytest.raises(ModelError, match="two distinct"):
        ModalityAttentionNet(["tumour"])


def test_default_model_is_small():
    model = ModalityAttentionNet(CLASSES)
    n = sum(p.numel() for p in model.parameters())
    assert n < 1_000_000
    assert n * 4 < 20e6  # bundled-model budget of 20 MB, float32
    assert isinstance(model.encoder, CompactEncoder) and model.encoder.stride == 8
    out = model.eval()(torch.randn(1, 6, 32, 40, 32), torch.ones(1, 6, dtype=torch.bool))
    assert out.fused.shape[2:] == (4, 5, 4)


def _medicalnet_file(encoder, path, extra_head=True):
    """Write ``encoder`` the way MedicalNet ships its weights."""
    state = {f"module.{k}": v.clone() for k, v in encoder.net.state_dict().items()}
    if extra_head:  # the segmentation head some MedicalNet files carry
        state["module.conv_seg.0.weight"] = torch.zeros(2, 512, 3, 3, 3)
    torch.save({"epoch": 1, "state_dict": state}, path)
    return path


def test_resnet_encoder_loads_medicalnet_format(tmp_path):
    torch.manual_seed(0)
    source = ResNetEncoder(10).eval()
    for m in source.modules():  # non-trivial batch-norm statistics must travel too
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = _medicalnet_file(source, tmp_path / "resnet_10.pth")

    torch.manual_seed(1)
    model = ModalityAttentionNet(CLASSES, encoder="resnet10", embed_dim=16).eval()
    x = torch.randn(1, 1, 32, 32, 32)
    assert not torch.equal(model.encoder(x), source(x))
    load_medicalnet_weights(model, path)  # through the classifier: goes to model.encoder
    assert torch.equal(model.encoder(x), source(x))
    assert model.encoder.shortcut_type == "B" and source.out_channels == 512


def test_medicalnet_shortcut_a_for_depth_18_and_mismatches_are_model_errors(tmp_path):
    torch.manual_seed(0)
    enc18 = ResNetEncoder(18)
    assert enc18.shortcut_type == "A" and enc18.bias_downsample is True
    assert not any("downsample" in k for k in enc18.net.state_dict())
    state = {f"module.{k}": v for k, v in enc18.net.state_dict().items()}
    load_medicalnet_weights(ResNetEncoder(18), {"state_dict": state})

    enc10 = ResNetEncoder(10)
    path10 = _medicalnet_file(enc10, tmp_path / "resnet_10.pth", extra_head=False)
    with pytest.raises(ModelError, match="blocks per layer"):
        load_medicalnet_weights(ResNetEncoder(18), path10)
    with pytest.raises(ModelError, match="shortcut type B"):
        load_medicalnet_weights(ResNetEncoder(10, shortcut_type="A"), path10)
    with pytest.raises(ModelError, match="bias_downsample=False"):
        load_medicalnet_weights(ResNetEncoder(10, bias_downsample=True), path10)

    good = {f"module.{k}": v for k, v in enc10.net.state_dict().items()}
    missing = dict(good)
    del missing["module.layer3.0.bn1.weight"]
    with pytest.raises(ModelError, match=r"missing 1 \(layer3.0.bn1.weight\)"):
        load_medicalnet_weights(ResNetEncoder(10), {"state_dict": missing})
    wrong = dict(good)
    wrong["module.layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1, 1)
    with pytest.raises(ModelError, match="wrong shape"):
        load_medicalnet_weights(ResNetEncoder(10), {"state_dict": wrong})
    three_channel = dict(good)
    three_channel["module.conv1.weight"] = torch.zeros(64, 3, 7, 7, 7)
    with pytest.raises(ModelError, match="1-channel"):
        load_medicalnet_weights(ResNetEncoder(10), {"state_dict": three_channel})
    with pytest.raises(ModelError, match="does not exist"):
        load_medicalnet_weights(ResNetEncoder(10), tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="Cannot read"):
        load_medicalnet_weights(ResNetEncoder(10), tmp_path / "junk.pth")


def _blob_task(n, generator, size=(16, 16, 16)):
    """Class 1 has a bright cube in whatever modalities are present; class 0 does not."""
    y = torch.randint(0, 2, (n,), generator=generator)
    x = torch.randn((n, 3, *size), generator=generator) * 0.5
    x[y == 1, :, 4:10, 5:11, 6:12] += 2.0
    present = torch.rand((n, 3), generator=generator) < 0.7
    present[~present.any(1), 0] = True
    return x, present, y


def test_tiny_model_learns_a_separable_task_under_missing_modalities():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = ModalityAttentionNet(("no_blob", "blob"), modalities=("T1C", "FLAIR", "CT"),
                                 **{**TINY, "modality_dropout": 0.3})
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(30):
        x, present, y = _blob_task(16, g)
        loss = F.cross_entropy(model(x, present).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, present, y = _blob_task(200, torch.Generator().manual_seed(99))
    with torch.no_grad():
        accuracy = (model.eval()(x, present).logits.argmax(1) == y).float().mean().item()
    assert accuracy > 0.8  # chance is 0.5


def test_freeze_then_unfreeze_encoder():
    model = tiny_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, present = inputs()
    y = torch.tensor([0, 1, 2])
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    head_before = model.classifier.weight.clone()
    assert freeze_encoder(model) == sum(p.numel() for p in model.encoder.parameters())
    model.train()
    assert not model.encoder.training and model.attention.training
    F.cross_entropy(model(x, present).logits, y).backward()
    opt.step()
    after = model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN statistics
    assert not torch.equal(head_before, model.classifier.weight)

    unfreeze_encoder(model)
    model.train()
    assert model.encoder.training
    opt.zero_grad()
    F.cross_entropy(model(x, present).logits, y).backward()
    opt.step()
    assert not torch.equal(before["stem.0.weight"], model.encoder.state_dict()["stem.0.weight"])


def test_reconstruction_pretraining_learns_and_transfers(tmp_path):
    torch.manual_seed(0)
    encoder = CompactEncoder(channels=(8, 16, 16), strides=(2, 2, 1), blocks=(0, 1))
    pretrainer = ReconstructionPretrainer(encoder, mask_ratio=0.5, patch_size=4, decoder_channels=16)
    g = torch.Generator().manual_seed(0)
    # Smooth volumes, so blanked cubes can be inferred from their surroundings.
    vols = F.avg_pool3d(torch.randn((4, 1, 16, 16, 16), generator=g), 5, stride=1, padding=2) * 5
    out = pretrainer(vols, generator=torch.Generator().manual_seed(1))
    assert out.reconstruction.shape == vols.shape and out.mask.dtype == torch.bool
    assert 0.3 < out.mask.float().mean() < 0.7
    assert torch.all(out.corrupted[out.mask].abs() < 1.0)  # blanked to 0 plus noise 0.1
    opt = torch.optim.Adam(pretrainer.parameters(), lr=5e-3)
    first = None
    for step in range(15):
        loss = pretrainer(vols, generator=torch.Generator().manual_seed(step)).loss
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first

    torch.save(pretrainer.state_dict(), tmp_path / "pretrained.pt")  # encoder.* and decoder.* keys
    model = tiny_model()
    load_encoder_weights(model, tmp_path / "pretrained.pt")
    assert all(torch.equal(v, encoder.state_dict()[k]) for k, v in model.encoder.state_dict().items())
    other = ModalityAttentionNet(CLASSES)  # default, wider encoder
    with pytest.raises(ModelError, match="do not fit"):
        load_encoder_weights(other, tmp_path / "pretrained.pt")
