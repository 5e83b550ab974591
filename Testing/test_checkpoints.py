"""Checkpoints: state_dict + model card, sha256, weights_only loading, registry."""

import json
from pathlib import Path

import pytest
import torch

from braintumorai import checkpoints
from braintumorai.checkpoints import (
    INTENDED_USE,
    list_models,
    load_checkpoint,
    read_card,
    resolve_model,
    save_checkpoint,
    sha256_of,
)
from braintumorai.errors import ModelError
from braintumorai.models import ModalityAttentionNet

CARD = dict(spacing_mm=[3.0, 3.0, 3.0], grid_size=[24, 20, 16], normalisation={"MRI": "zscore-brain"},
            training_data="unit-test tensors", metrics={"accuracy": 0.5})


def tiny(classes=("HGG", "LGG")):
    torch.manual_seed(0)
    model = ModalityAttentionNet(
        classes, modalities=("T1", "T1C", "T2", "FLAIR"), embed_dim=8, attention_hidden=4,
        encoder_kwargs=dict(channels=(4, 8), strides=(2, 2), blocks=(1,)),
    )
    # make batch-norm statistics non-trivial so the round trip has something to carry
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(2, 4, 16, 20, 24), torch.ones(2, 4, dtype=torch.bool))
    return model.eval()


@pytest.fixture
def saved(tmp_path):
    model = tiny()
    card = save_checkpoint(model, tmp_path / "brats_hgg_lgg", CARD)
    return model, card, tmp_path


def _rewrite_card(path: Path, **changes):
    card = json.loads(path.read_text())
    card.update(changes)
    path.write_text(json.dumps(card))


def test_round_trip_gives_identical_outputs(saved):
    model, card, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == ["brats_hgg_lgg.json", "brats_hgg_lgg.pt"]  # no temp files
    x = torch.randn(2, 4, 16, 20, 24)
    present = torch.tensor([[1, 1, 1, 1], [0, 1, 0, 1]], dtype=torch.bool)
    for source in (folder / "brats_hgg_lgg.json", folder / "brats_hgg_lgg.pt", str(folder / "brats_hgg_lgg")):
        loaded, loaded_card = load_checkpoint(source)
        assert not loaded.training
        a, b = model(x, present), loaded(x, present)
        assert torch.equal(a.logits, b.logits) and torch.equal(a.modality_weights, b.modality_weights)
        assert loaded.classes == ("HGG", "LGG") and loaded_card["classes"] == ["HGG", "LGG"]


def test_card_has_what_a_user_and_the_pipeline_need(saved):
    model, card, folder = saved
    on_disk = read_card(folder / "brats_hgg_lgg.json")
    assert on_disk["sha256"] == sha256_of(folder / "brats_hgg_lgg.pt") == card["sha256"]
    assert on_disk["intended_use"] == INTENDED_USE == "Research only. Not for clinical use."
    assert on_disk["architecture"] == "ModalityAttentionNet"
    assert on_disk["config"]["encoder_kwargs"] == {"channels": [4, 8], "strides": [2, 2], "blocks": [1]}
    assert on_disk["modalities"] == ["T1", "T1C", "T2", "FLAIR"]
    assert on_disk["spacing_mm"] == [3.0, 3.0, 3.0] and on_disk["grid_size"] == [24, 20, 16]
    assert on_disk["weights"] == "brats_hgg_lgg.pt" and on_disk["name"] == "brats_hgg_lgg"
    assert on_disk["metrics"] == {"accuracy": 0.5} and on_disk["licence"]
    # the .pt file is a plain state dict
    state = torch.load(folder / "brats_hgg_lgg.pt", weights_only=True)
    assert set(state) == set(model.state_dict())


def test_save_refuses_incomplete_or_contradicting_cards(tmp_path):
    with pytest.raises(ModelError, match="grid_size"):
        save_checkpoint(tiny(), tmp_path / "m", {"spacing_mm": [2, 2, 2]})
    with pytest.raises(ModelError, match="contradicts"):
        save_checkpoint(tiny(), tmp_path / "m", {**CARD, "classes": ["a", "b", "c"]})
    with pytest.raises(ModelError, match="does not exist"):
        save_checkpoint(tiny(), tmp_path / "no" / "m", CARD)
    assert list(tmp_path.iterdir()) == []


def test_wrong_sha256_is_refused(saved):
    _, card, folder = saved
    weights = folder / "brats_hgg_lgg.pt"
    weights.write_bytes(weights.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="sha256.*corrupt"):
        load_checkpoint(folder / "brats_hgg_lgg.json")


def test_missing_key_is_refused(saved):
    model, _, folder = saved
    state = model.state_dict()
    del state["attention.voxel_scorer.0.weight"]
    torch.save(state, folder / "brats_hgg_lgg.pt")
    _rewrite_card(folder / "brats_hgg_lgg.json", sha256=sha256_of(folder / "brats_hgg_lgg.pt"))
    with pytest.raises(ModelError, match=r"lack 1 keys \['attention.voxel_scorer.0.weight'\]"):
        load_checkpoint(folder / "brats_hgg_lgg.json")


def test_class_count_mismatch_is_refused(saved):
    _, card, folder = saved
    three = ["HGG", "LGG", "metastasis"]
    _rewrite_card(folder / "brats_hgg_lgg.json", classes=three, config={**card["config"], "classes": three})
    with pytest.raises(ModelError, match="card lists 3 classes but the weights predict 2"):
        load_checkpoint(folder / "brats_hgg_lgg.json")
    _rewrite_card(folder / "brats_hgg_lgg.json", classes=three, config=card["config"])
    with pytest.raises(ModelError, match="classes"):
        load_checkpoint(folder / "brats_hgg_lgg.json")


def test_unknown_architecture_and_broken_cards_are_refused(saved):
    _, card, folder = saved
    _rewrite_card(folder / "brats_hgg_lgg.json", architecture="VisionTransformer3D")
    with pytest.raises(ModelError, match="Unknown architecture 'VisionTransformer3D'"):
        load_checkpoint(folder / "brats_hgg_lgg.json")
    (folder / "brats_hgg_lgg.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_checkpoint(folder / "brats_hgg_lgg.json")
    (folder / "brats_hgg_lgg.json").write_text(json.dumps({"architecture": "ModalityAttentionNet"}))
    with pytest.raises(ModelError, match="lacks"):
        load_checkpoint(folder / "brats_hgg_lgg.json")
    (folder / "brats_hgg_lgg.json").unlink()
    with pytest.raises(ModelError, match="card"):
        load_checkpoint(folder / "brats_hgg_lgg.pt")


class Payload:
    """Not a tensor: unpickling it would need arbitrary code."""


def test_only_weights_only_loading(saved, monkeypatch):
    model, card, folder = saved
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_checkpoint(folder / "brats_hgg_lgg.json")
    assert calls == [True]

    # A pickle with an object in it, with a matching hash, is still refused.
    torch.save({"state": model.state_dict(), "payload": Payload()}, folder / "brats_hgg_lgg.pt")
    _rewrite_card(folder / "brats_hgg_lgg.json", sha256=sha256_of(folder / "brats_hgg_lgg.pt"))
    with pytest.raises(ModelError, match="weights_only"):
        load_checkpoint(folder / "brats_hgg_lgg.json")


def test_load_from_card_dict_and_device(saved):
    model, card, folder = saved
    card = read_card(folder / "brats_hgg_lgg.json")
    loaded, _ = load_checkpoint(card, device="cpu")
    assert next(loaded.parameters()).device.type == "cpu"


def test_registry_lists_and_resolves_models(saved, tmp_path):
    _, card, folder = saved
    # The bundled registry is well-formed (it may be empty until the default model ships).
    for entry in list_models():
        assert {"name", "card", "weights", "sha256"} <= set(entry)
    assert checkpoints.REGISTRY_PATH.name == "registry.json"

    registry = folder / "registry.json"
    registry.write_text(json.dumps({"format_version": 1, "default": "hgg-lgg", "models": [
        {"name": "hgg-lgg", "card": "brats_hgg_lgg.json", "weights": "brats_hgg_lgg.pt",
         "sha256": card["sha256"], "url": None, "description": "test"},
    ]}))
    entries = list_models(registry)
    assert entries[0]["name"] == "hgg-lgg" and entries[0]["available"] and entries[0]["default"]
    assert resolve_model("hgg-lgg", registry) == folder / "brats_hgg_lgg.json"
    assert resolve_model(None, registry) == folder / "brats_hgg_lgg.json"
    assert resolve_model(folder / "brats_hgg_lgg.pt") == folder / "brats_hgg_lgg.json"
    with pytest.raises(ModelError, match="Unknown model 'nope'; registered models: hgg-lgg"):
        resolve_model("nope", registry)
    with pytest.raises(ModelError, match="not found"):
        resolve_model(tmp_path / "elsewhere" / "x.pt")
    empty = folder / "empty_registry.json"
    empty.write_text(json.dumps({"format_version": 1, "default": None, "models": []}))
    with pytest.raises(ModelError, match="No default classification model"):
        resolve_model(None, empty)

    registry.write_text(json.dumps({"default": "hgg-lgg", "models": [
        {"name": "hgg-lgg", "card": "brats_hgg_lgg.json", "weights": "brats_hgg_lgg.pt", "sha256": "0" * 64},
    ]}))
    with pytest.raises(ModelError, match="registry's sha256"):
        resolve_model("hgg-lgg", registry)
