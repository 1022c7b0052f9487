"""Data-parallel training with PyTorch's DistributedDataParallel, started by ``torchrun``.

    torchrun --nproc-per-node 2 -m recsys train --dataset data/processed/mpd --model lightgcn

torchrun sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_from_env` reads them and joins the process group (NCCL on CUDA, gloo on CPU).
Without them (a plain ``python -m recsys train``) every helper here is a no-op and the
single-process run is exactly what it was.

How the trainer uses it (recsys/training/trainer.py and cli.py):

- every rank builds the same graph and model; wrapping with DDP broadcasts rank 0's weights, and
  gradients are averaged across ranks after every backward, so all ranks hold identical weights;
- an epoch's ``steps_per_epoch`` batches are shared out (:func:`local_steps`): each rank draws
  its own batches of BPR examples from its own random stream (:func:`use_rank_stream`), so an
  epoch sees as many examples as a single-process epoch in 1/world of the steps per rank;
- validation runs on every rank (identical weights give identical figures, so early stopping
  agrees without messages); only rank 0 (:func:`is_main`) prints, writes checkpoints and
  publishes the artifact.
"""
from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from recsys.errors import RecsysError


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise RecsysError(f"environment variable {name}={value!r}: expected an integer (set by torchrun)") from None


def world_size() -> int:
    """Number of training processes (1 outside torchrun)."""
    return dist.get_world_size() if dist.is_initialized() else _env_int("WORLD_SIZE", 1)


def rank() -> int:
    """This process's rank, 0..world_size()-1 (0 outside torchrun)."""
    return dist.get_rank() if dist.is_initialized() else _env_int("RANK", 0)


def is_main() -> bool:
    """True on the one process that prints, writes checkpoints and publishes (rank 0)."""
    return rank() == 0


def init_from_env(device: torch.device) -> torch.device:
    """Join the process group torchrun describes and return this rank's device.

    ``device`` is the single-process choice (``recsys.training.device.resolve_device``): on CUDA
    each rank takes GPU ``LOCAL_RANK`` and NCCL, on CPU the ranks use gloo. Returns ``device``
    unchanged when there is one process. Calling it again is harmless.
    """
    if _env_int("WORLD_SIZE", 1) <= 1:
        return device
    if device.type == "cuda":
        local_rank = _env_int("LOCAL_RANK", 0)
        if local_rank >= torch.cuda.device_count():
            raise RecsysError(f"LOCAL_RANK={local_rank} but torch sees {torch.cuda.device_count()} CUDA "
                              f"device(s): start at most that many processes per node")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def local_steps(steps_per_epoch: int) -> int:
    """This rank's share of an epoch's batches (rounded up, so an epoch never sees fewer examples)."""
    return max(1, -(-steps_per_epoch // world_size()))


def use_rank_stream(rng: np.random.Generator) -> None:
    """Move ``rng`` (in place) to this rank's own stream: the generator jumped ``rank`` times
    (2^127 draws per jump for PCG64), so ranks never draw the same examples. Rank 0 keeps the
    stream it has, which is why a single-process run is unchanged. Call it after restoring a
    checkpoint too: the checkpoint holds rank 0's state."""
    if rank() > 0:
        rng.bit_generator.state = rng.bit_generator.jumped(rank()).state


class _LossModule(nn.Module):
    """DDP synchronises gradients of what its ``forward`` computed; the models expose
    ``loss(graph, batch)``, so forward is that."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, graph, batch) -> torch.Tensor:
        return self.model.loss(graph, batch)


def wrap_loss(model: nn.Module) -> Callable:
    """``model.loss`` itself in a single process; under torchrun the same loss through
    DistributedDataParallel, whose backward averages gradients over the ranks. ``model`` stays
    the plain module (its state_dict keys, its evaluation) either way."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return model.loss
    # device_ids=None: the inputs are already on this rank's device, and DDP would otherwise try
    # to copy the graph dataclass field by field.
    return nn.parallel.DistributedDataParallel(_LossModule(model), device_ids=None)


def mean_over_ranks(value: float) -> float:
    """The average of ``value`` over all ranks (``value`` itself in a single process)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return float(value)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    total = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.item() / dist.get_world_size()


def shutdown() -> None:
    """Leave the process group (no-op when none was joined)."""
    if dist.is_initialized():
        dist.destroy_process_group()
