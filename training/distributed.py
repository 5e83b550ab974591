"""Single-process or ``torchrun`` multi-GPU training, with one code path."""

from __future__ import annotations

import datetime
import os

import torch


def setup() -> tuple[int, int, str]:
    """(rank, world size, device). Under torchrun, joins the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        # Rank 0 may spend a long while building the data caches while the others wait.
        torch.distributed.init_process_group(backend, timeout=datetime.timedelta(hours=2))
        rank = torch.distributed.get_rank()
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            torch.cuda.set_device(local)
            return rank, world, f"cuda:{local}"
        return rank, world, "cpu"
    return 0, 1, "cuda" if torch.cuda.is_available() else "cpu"


def wrap(model: torch.nn.Module, device: str, world: int) -> torch.nn.Module:
    """DistributedDataParallel under torchrun; the model itself otherwise."""
    if world > 1:
        ids = [torch.device(device).index] if device.startswith("cuda") else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
    return model


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def barrier(world: int) -> None:
    if world > 1:
        torch.distributed.barrier()


def teardown(world: int) -> None:
    if world > 1:
        torch.distributed.destroy_process_group()
