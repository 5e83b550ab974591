"""The two training stages: self-supervised pretraining of the encoder, then
supervised fine-tuning with a freeze-then-unfreeze schedule (or from scratch)."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, WeightedRandomSampler

from braintumorai.models.pretraining import ReconstructionPretrainer, freeze_encoder, unfreeze_encoder
from braintumorai.pipeline import autocast

from .data import CachedCases, SingleModalityVolumes
from .distributed import unwrap, wrap
from .sampling import DistributedBalancedSampler


def _progress(iterable, description: str, total: int, quiet: bool):
    if quiet:
        return iterable
    try:
        from tqdm import tqdm

        return tqdm(iterable, desc=description, total=total, mininterval=10, ncols=90)
    except ImportError:
        return iterable


def _step(loss, optimizer, scaler, schedule) -> None:
    """One optimisation step (loss scaling is active on CUDA only)."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    schedule.step()


def pretrain_encoder(model, cached, config: dict, device: str, world: int = 1, rank: int = 0, seed: int = 0) -> dict:
    """Masked-patch reconstruction on every present channel of the cache (labels unused).

    Trains ``model.encoder`` in place; returns {'steps', 'final_loss', 'seconds'}.
    """
    torch.manual_seed(seed + rank)  # each rank its own masks and noise
    pretrainer = ReconstructionPretrainer(model.encoder).to(device)
    module = wrap(pretrainer, device, world)
    volumes = SingleModalityVolumes(cached)
    sampler = DistributedSampler(volumes, seed=seed) if world > 1 else None
    loader = DataLoader(volumes, batch_size=config["batch_size"], shuffle=sampler is None, sampler=sampler,
                        drop_last=True, num_workers=0, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.AdamW(module.parameters(), lr=config["lr"], weight_decay=1e-5)
    scaler = torch.amp.GradScaler("cuda", enabled=device.startswith("cuda"))
    steps, losses, start = int(config["steps"]), [], time.time()
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config["lr"], total_steps=steps, pct_start=0.1)
    step = 0
    module.train()
    bar = _progress(range(steps), "pretrain", steps, rank != 0)
    iterator = iter(())
    for step in bar:
        try:
            batch = next(iterator)
        except StopIteration:
            if sampler is not None:
                sampler.set_epoch(step)
            iterator = iter(loader)
            batch = next(iterator)
        with autocast(device):
            loss = module(batch.to(device)).loss
        _step(loss, optimizer, scaler, schedule)
        losses.append(float(loss.detach()))
    return {"steps": steps, "final_loss": float(np.mean(losses[-20:])), "seconds": time.time() - start}


def _balanced_sampler(labels: np.ndarray, seed: int) -> WeightedRandomSampler:
    """Each class drawn equally often, whatever its share of the training cases."""
    counts = np.bincount(labels)
    weights = 1.0 / counts[labels]
    return WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), num_samples=len(labels),
                                 replacement=True, generator=torch.Generator().manual_seed(seed))


def _single_modality_loss(loss_fn, output, y):
    """Cross-entropy of every used modality classified alone, averaged over the
    (case, modality) pairs: what keeps each modality able to carry the decision."""
    b_idx, m_idx = output.present.nonzero(as_tuple=True)
    return loss_fn(output.modality_logits[b_idx, m_idx].float(), y[b_idx])


def finetune(model, cached, indices, config: dict, device: str, pretrained: bool, augment: bool,
             world: int = 1, rank: int = 0, seed: int = 0, log=print) -> dict:
    """Supervised training of the whole network.

    With ``pretrained``: the encoder is frozen for ``frozen_epochs`` (attention and head
    learn on the pretrained features), then unfrozen with its own learning rate
    (``encoder_lr``). Without: every parameter trains from the start, for the same
    number of epochs. ``modality_loss_weight`` adds the per-modality cross-entropy
    (each used modality classified alone) to the fused prediction's.
    Returns a history dict.
    """
    torch.manual_seed(seed + rank)  # each rank its own modality dropout and augmentation
    dataset = CachedCases(cached, indices, augment=augment, seed=seed + rank)
    labels = cached.labels[np.asarray(indices)]
    # Classes balanced in every case; under torchrun each rank takes its share of one balanced draw.
    sampler = (DistributedBalancedSampler(labels, seed=seed, rank=rank, world=world) if world > 1
               else _balanced_sampler(labels, seed))
    loader = DataLoader(dataset, batch_size=config["batch_size"], sampler=sampler, drop_last=True, num_workers=0)
    module = wrap(model.to(device), device, world)
    encoder_params = list(model.encoder.parameters())
    encoder_ids = {id(p) for p in encoder_params}
    head_params = [p for p in model.parameters() if id(p) not in encoder_ids]
    optimizer = torch.optim.AdamW([
        {"params": head_params, "lr": config["lr"]},
        {"params": encoder_params, "lr": config["encoder_lr"] if pretrained else config["lr"]},
    ], weight_decay=config.get("weight_decay", 1e-4))
    epochs = int(config["epochs"])
    frozen_epochs = int(config.get("frozen_epochs", 0)) if pretrained else 0
    steps_per_epoch = len(loader)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[group["lr"] for group in optimizer.param_groups],
        total_steps=epochs * steps_per_epoch, pct_start=0.15)
    scaler = torch.amp.GradScaler("cuda", enabled=device.startswith("cuda"))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    modality_loss_weight = float(config.get("modality_loss_weight", 0.0))
    history, start = [], time.time()
    for epoch in range(epochs):
        if epoch < frozen_epochs:
            freeze_encoder(model)
        else:
            unfreeze_encoder(model)
        if world > 1:
            sampler.set_epoch(epoch)
        module.train()
        losses, correct, seen = [], 0, 0
        for x, present, y in _progress(loader, f"epoch {epoch + 1}/{epochs}", steps_per_epoch, rank != 0):
            x, present, y = x.to(device), present.to(device), y.to(device)
            with autocast(device):
                output = module(x, present, with_modality_logits=modality_loss_weight > 0)
                logits = output.logits
                loss = loss_fn(logits.float(), y)
                if modality_loss_weight > 0:
                    loss = loss + modality_loss_weight * _single_modality_loss(loss_fn, output, y)
            _step(loss, optimizer, scaler, schedule)
            losses.append(float(loss.detach()))
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        history.append({"epoch": epoch + 1, "encoder_frozen": epoch < frozen_epochs, "loss": float(np.mean(losses)),
                        "train_accuracy": correct / max(seen, 1), "seconds": time.time() - start})
        if rank == 0:
            log(f"  epoch {epoch + 1}/{epochs}: loss {history[-1]['loss']:.3f}, "
                f"train accuracy {history[-1]['train_accuracy']:.3f}, {history[-1]['seconds']:.0f} s")
    unfreeze_encoder(model)
    unwrap(module).eval()
    return {"epochs": history, "seconds": time.time() - start, "pretrained": pretrained}
