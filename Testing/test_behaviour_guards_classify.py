"""Issue 15 §6, the classification side: each test pins one behaviour a user relies on and
fails when the bug named in its docstring is planted (each was checked by planting it).

Small untrained networks with fixed seeds: the numbers are meaningless, the contracts real."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch

from braintumorai.calibration import apply_temperature
from braintumorai.checkpoints import save_checkpoint
from braintumorai.models import ModalityAttentionNet
from braintumorai.normalization import normalise, normalise_ct
from braintumorai.pipeline import Classifier
from braintumorai.report.html import classification_section
from braintumorai.saliency import layercam

from imaging_helpers import head_with_blob

CLASSES = ("HGG", "LGG", "none")
# Temperatures far from 1, and a different one per modality subset, so that a path that drops
# the card's temperature, or picks the wrong subset's, gives other probabilities.
CALIBRATION = {"temperature": 2.5, "conformal_threshold": 0.7, "coverage": 0.9,
               "per_subset": {"T1C+FLAIR": {"temperature": 3.0, "conformal_threshold": 0.7},
                              "T1C": {"temperature": 0.4, "conformal_threshold": 0.7}}}


def _network(seed: int = 0) -> ModalityAttentionNet:
    torch.manual_seed(seed)
    model = ModalityAttentionNet(CLASSES, ("T1C", "FLAIR"), embed_dim=8)
    with torch.no_grad():  # logits of a few units, so a temperature visibly changes the probabilities
        model.classifier.weight.mul_(40.0)
    return model.eval()


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Classifier:
    path = tmp_path_factory.mktemp("guard-model") / "guard.pt"
    save_checkpoint(_network(), path, {"name": "guard", "version": "0", "spacing_mm": [6.0, 6.0, 6.0],
                                       "grid_size": [32, 36, 32], "calibration": CALIBRATION})
    return Classifier.load(str(path), device="cpu")


def _study() -> dict:
    def volume(radius):
        return head_with_blob((60, 70, 50), (3.0, 3.0, 3.0), np.eye(3), blob_centre=(15.0, -5.0, 0.0),
                              blob_radius=radius, texture=True)

    return {"T1C": volume(10.0), "FLAIR": volume(16.0)}


# ---------------------------------------------------------------------------------------------
# Calibration: embed (the prognosis model's input) and predict (Classify) agree.

def test_embed_and_predict_give_the_same_probabilities_under_a_card_temperature(classifier):
    """Bug guarded: embed (or predict) drops the card's temperature, or uses the pooled one
    instead of the modality subset's."""
    study = _study()
    result = classifier.predict(study, saliency=None)
    embedding = classifier.embed(study)
    from_embed = [embedding.probabilities[c] for c in CLASSES]
    assert from_embed == pytest.approx(result.probabilities, abs=1e-6)
    # Both are softmax(logits / T) with T the T1C+FLAIR subset's 3.0, not 1 nor the pooled 2.5.
    prepared = classifier.prepare(study)[1]
    with torch.no_grad():
        logits = classifier.model(torch.from_numpy(prepared.channels[None]),
                                  torch.from_numpy(prepared.present[None])).logits[0].numpy()
    assert result.probabilities == pytest.approx(list(apply_temperature(logits, 3.0)), abs=1e-5)
    for other in (1.0, 2.5):
        assert np.abs(np.asarray(result.probabilities) - apply_temperature(logits, other)).max() > 1e-3


# ---------------------------------------------------------------------------------------------
# embed(modalities=[...]) reads only the named modalities.

def test_embed_with_modalities_reads_only_those(classifier):
    """Bug guarded: the ``modalities`` argument is ignored (or widened), so the prognosis
    model's MRI-only embedding still reads the other volumes."""
    prepared = classifier.prepare(_study())[1]
    only_t1c = classifier.embed(prepared, modalities=["t1c"])
    assert only_t1c.modalities == ["T1C"]
    # Whatever the FLAIR channel holds, the T1C-only embedding does not move.
    noisy = prepared.channels.copy()
    noisy[prepared.modalities.index("FLAIR")] = np.random.default_rng(3).normal(0, 3, noisy.shape[1:])
    scrambled = dataclasses.replace(prepared, channels=noisy.astype(np.float32))
    again = classifier.embed(scrambled, modalities=["T1C"])
    np.testing.assert_array_equal(again.vector, only_t1c.vector)
    assert again.probabilities == only_t1c.probabilities
    # ... and it is not the embedding of both (the FLAIR does change that one).
    both = classifier.embed(prepared)
    assert both.modalities == ["T1C", "FLAIR"] and np.abs(both.vector - only_t1c.vector).max() > 1e-4
    # The T1C subset's temperature (0.4) calibrates the T1C-only probabilities.
    with torch.no_grad():
        x = torch.from_numpy(prepared.channels[None])
        logits = classifier.model(x, torch.tensor([[True, False]])).logits[0].numpy()
    assert [only_t1c.probabilities[c] for c in CLASSES] == pytest.approx(list(apply_temperature(logits, 0.4)),
                                                                         abs=1e-5)


# ---------------------------------------------------------------------------------------------
# LayerCAM: relu(sum_c relu(dy/dA_c) A_c) on the encoder's stem, computed here directly.

def _direct_maps(model, x, present, k):
    """LayerCAM cells of the stem ``(P, d', h', w')`` and Grad-CAM cells of the fused map
    ``(d, h, w)`` for class ``k``, from autograd on the model's own layers (no retain_grad)."""
    captured = {}
    hooks = [model.encoder.stem.register_forward_hook(lambda m, i, o: captured.__setitem__("stem", o)),
             model.fusion_output.register_forward_hook(lambda m, i, o: captured.__setitem__("fused", o))]
    try:
        with torch.enable_grad():
            logits = model(x, present).logits
            stem_grad, fused_grad = torch.autograd.grad(logits[0, k], [captured["stem"], captured["fused"]])
    finally:
        for hook in hooks:
            hook.remove()
    stem, fused = captured["stem"].detach(), captured["fused"].detach()
    fine = torch.relu((torch.relu(stem_grad) * stem).sum(dim=1))           # (P, d', h', w')
    weights = fused_grad.mean(dim=(2, 3, 4), keepdim=True)                  # Grad-CAM channel weights
    coarse = torch.relu((weights * fused).sum(dim=1))[0]                    # (d, h, w)
    return fine.numpy(), coarse.numpy(), int(logits.argmax())


@pytest.fixture(scope="module")
def saliency_case():
    model = _network(seed=1)
    x = torch.from_numpy(np.random.default_rng(7).normal(0, 1, (1, 2, 32, 36, 32)).astype(np.float32))
    return model, x, torch.tensor([[True, True]])


def test_layercam_equals_the_formula_computed_directly(saliency_case):
    """Bug guarded: LayerCAM weighted by the channel-mean gradient (Grad-CAM), without the
    ReLU on the gradient, on another layer, or its cells placed off the voxels they centre on."""
    model, x, present = saliency_case
    for k in range(len(CLASSES)):
        fine, _, _ = _direct_maps(model, x, present, k)
        fused, per_modality = layercam(model, x, present, class_index=k, gated=False)
        total = fine.sum(0)
        d, h, w = total.shape
        # Stride-2 stem with "same" padding: cell q lies on voxel 2q; the map's max is at a cell.
        nodes = fused[::2, ::2, ::2][:d, :h, :w]
        np.testing.assert_allclose(nodes, total / total.max(), atol=2e-5)
        for index, name in enumerate(("T1C", "FLAIR")):
            np.testing.assert_allclose(per_modality[name][::2, ::2, ::2][:d, :h, :w], fine[index] / total.max(),
                                       atol=2e-5)
        assert fused.shape == tuple(x.shape[2:])


def test_layercam_gate_is_gradcam_of_the_fused_map(saliency_case):
    """Bug guarded: the default (gated) map gated by something else than Grad-CAM of the
    attention-fused map of the explained class (e.g. the predicted class, or no gate)."""
    model, x, present = saliency_case
    checked = 0
    for k in range(len(CLASSES)):
        _, coarse, predicted = _direct_maps(model, x, present, k)
        plain, _ = layercam(model, x, present, class_index=k, gated=False)
        gated, _ = layercam(model, x, present, class_index=k, gated=True)
        if coarse.max() == 0:  # no positive evidence on the fused map: the gate closes everything
            assert gated.max() == 0
            continue
        checked += 1
        d, h, w = coarse.shape
        # The fused map's cells (stride 8) lie on voxels 8q, which are stem cells too.
        ratio_at = (slice(0, 8 * d, 8), slice(0, 8 * h, 8), slice(0, 8 * w, 8))
        keep = plain[ratio_at] > 1e-3
        assert keep.sum() > 10
        ratio = gated[ratio_at][keep] / plain[ratio_at][keep]
        expected = coarse[keep] / coarse.max()
        scale = ratio.max() / expected.max()
        np.testing.assert_allclose(ratio, expected * scale, atol=2e-4 * scale + 1e-5)
        assert not np.allclose(expected, 1.0)
    assert checked >= 2


# ---------------------------------------------------------------------------------------------
# CT: the fixed Hounsfield window, worked by hand.

def test_ct_window_by_hand():
    """Bug guarded: a wrong window (e.g. -1000..1000 or 0..80), a sign slip in the centring, or
    a scale of 40 HU instead of 20. Air (-1000) clips to -20 HU -> (-20 - 40) / 20 = -3;
    brain (40) -> 0; bone (1000) clips to 120 HU -> (120 - 40) / 20 = 4; 60 HU -> 1."""
    hu = np.array([[[-1000.0, 40.0, 1000.0, 60.0, 0.0]]], np.float32)
    brain = np.ones(hu.shape, bool)
    expected = np.array([[[-3.0, 0.0, 4.0, 1.0, -2.0]]], np.float32)
    np.testing.assert_allclose(normalise_ct(hu, brain), expected, atol=1e-6)
    out, info = normalise("CT", hu, brain)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert info.method == "hu_window" and info.brain_median == pytest.approx(40.0)
    outside = brain.copy()
    outside[0, 0, 2] = False  # outside the brain the channel is 0, whatever the HU
    assert normalise("CT", hu, outside)[0][0, 0, 2] == 0.0


# ---------------------------------------------------------------------------------------------
# The report's probability table, most probable first.

def test_report_probability_table_is_sorted_descending():
    """Bug guarded: the table in the model's class order or ascending, or the prediction-set
    marks put on the wrong rows."""
    classes = ["glioblastoma", "lower_grade_glioma", "metastasis", "meningioma", "lymphoma", "no_tumor"]
    probabilities = dict(zip(classes, [0.05, 0.30, 0.02, 0.41, 0.20, 0.02]))
    data = {"classes": classes, "probabilities": probabilities, "predicted": "meningioma", "uncertainty": 0.6,
            "prediction_set": ["meningioma", "lower_grade_glioma"], "coverage": 0.9, "modality_weights": {}}
    html = classification_section(data, {})
    table = html[html.index("<th>class</th>"):]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><td>(.*?)</td><td>([0-9.]+)</td><td>(.*?)</td></tr>", table)
    # A row names the class as "human label (model id)" or, where they agree, by its id alone.
    names = [re.sub(r"^.*\((\w+)\)$", r"\1", re.sub(r"<[^>]+>", "", name)) for name, _, _ in rows]
    values = [float(value) for _, value, _ in rows]
    assert names[:3] == ["meningioma", "lower_grade_glioma", "lymphoma"] and len(names) == 6
    assert values == sorted(values, reverse=True) and values[0] == 0.41
    assert [name for name, (_, _, mark) in zip(names, rows) if mark == "yes"] == ["meningioma", "lower_grade_glioma"]


# ---------------------------------------------------------------------------------------------
# The out-of-distribution statistics: fitted on the training split, stored non-empty in the card.

OOD_CONFIG = {
    "name": "guard-ood", "version": "0", "modalities": ["T1C", "FLAIR"], "classes": ["HGG", "LGG"],
    "spacing_mm": [6.0, 6.0, 6.0], "grid_size": [24, 24, 24],
    "data": {"source": "phantoms", "phantom_spacing_mm": 4.0, "train_per_class": 40, "calibration_per_class": 8,
             "seeds": {"train": 10, "calibration": 500}},
    "model": {"encoder": "compact", "embed_dim": 8, "modality_dropout": 0.0, "encoder_kwargs": {"channels": [4, 8, 8, 8]}},
    "pretrain": None,
    "finetune": {"epochs": 1, "batch_size": 8, "lr": 0.002, "encoder_lr": 0.001},
    "augment": False, "seed": 0, "workers": 1, "conformal_coverage": 0.9,
}


def _synthetic_cache(folder, split: str, shift: float, seed: int) -> None:
    """A complete cache of ``split`` as ``training.sources`` names and keys it (so ``fit``
    reuses it instead of generating phantoms): blobs in noise, the calibration split shifted
    in brightness so its vectors differ from the training ones."""
    import json
    from dataclasses import asdict

    from training.sources import _key, phantom_spec

    spec = phantom_spec(OOD_CONFIG, split)
    path = folder / f"phantoms-{split}-{_key(spec)}"
    path.mkdir(parents=True)
    n, grid = 2 * spec.cases_per_class, tuple(reversed(OOD_CONFIG["grid_size"]))
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    channels = rng.normal(shift, 1.0, (n, 2, *grid)).astype(np.float32)
    channels[labels == 1, :, 8:16, 8:16, 8:16] += 2.0
    np.save(path / "channels.npy", channels.astype(np.float16))
    np.save(path / "present.npy", np.ones((n, 2), bool))
    np.save(path / "labels.npy", labels.astype(np.int64))
    np.save(path / "tumour.npy", np.zeros((n, *grid), np.uint8))
    np.save(path / "brain.npy", np.ones((n, *grid), bool))
    key = json.loads(json.dumps({"spec": asdict(spec), "classes": OOD_CONFIG["classes"],
                                 "modalities": OOD_CONFIG["modalities"]}))
    (path / "meta.json").write_text(json.dumps({"key": key, "seeds": list(range(n))}))


def test_ood_statistics_are_fitted_on_the_training_split_and_stored_in_the_card(tmp_path):
    """Bug guarded: the Gaussians fitted on the calibration split (or the scales on the
    training split), or the card written without its ``ood`` entry."""
    import json

    from braintumorai.checkpoints import load_checkpoint
    from braintumorai.ood import modality_distances, study_distances
    from training import classifier as program
    from training.ood_fit import cached_image_features, cached_vectors
    from training.phantom_cache import CachedSet

    cache = tmp_path / "cache"
    _synthetic_cache(cache, "train", 0.0, seed=1)
    _synthetic_cache(cache, "calibration", 1.5, seed=2)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(OOD_CONFIG))
    threads = torch.get_num_threads()
    try:
        assert program.main(["fit", "--config", str(config), "--out", str(tmp_path / "run"), "--cache", str(cache),
                             "--device", "cpu"]) == 0
    finally:
        torch.set_num_threads(threads)
    model, card = load_checkpoint(tmp_path / "run" / "guard-ood.pt")
    ood = card["ood"]
    assert set(ood["per_modality"]) == {"T1C", "FLAIR"} and ood["threshold"] > 0
    train, calibration = (CachedSet.open(next(cache.glob(f"phantoms-{s}-*"))) for s in ("train", "calibration"))
    train_vectors = cached_vectors(model, train.channels, train.present)
    calibration_vectors = cached_vectors(model, calibration.channels, calibration.present)
    for index, modality in enumerate(("T1C", "FLAIR")):
        mean = np.asarray(ood["per_modality"][modality]["mean"])
        np.testing.assert_allclose(mean, train_vectors[:, index].mean(0), rtol=1e-4, atol=1e-5)
        assert np.abs(mean - calibration_vectors[:, index].mean(0)).max() > 1e-3
    # Scales from the calibration split: there each modality's 99th-percentile distance is 1,
    # and the threshold is the 97th percentile of the study score (features and image statistics).
    distances = modality_distances(ood, ("T1C", "FLAIR"), calibration_vectors)
    np.testing.assert_allclose(np.quantile(distances, 0.99, axis=0), 1.0, rtol=1e-3)
    features = cached_image_features(calibration, OOD_CONFIG["spacing_mm"])
    scores = np.nanmax(study_distances(ood, ("T1C", "FLAIR"), calibration_vectors, features), axis=1)
    assert ood["flag_quantile"] == 0.97 and "image" in ood
    assert ood["threshold"] == pytest.approx(float(np.quantile(scores, 0.97)), rel=1e-3)
    assert "80 training" in ood["fitted_on"] and "16 calibration" in ood["fitted_on"]
