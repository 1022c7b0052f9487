"""Per-epoch training checkpoints: written atomically, read back without pickle."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from recsys.files import atomic_write
from recsys.errors import RecsysError

LAST = "last.pt"


class CheckpointError(RecsysError):
    """A checkpoint is unreadable or belongs to another run; the message names the file."""


def save_checkpoint(directory: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` to ``directory/last.pt`` via a temporary file and ``os.replace``, so a
    crash mid-write leaves the previous checkpoint intact."""
    target = Path(directory) / LAST
    atomic_write(target, lambda f: torch.save(state, f))
    return target


def load_checkpoint(directory: str | os.PathLike) -> dict | None:
    """The last checkpoint in ``directory`` (None when there is none). ``weights_only=True``:
    tensors and plain containers only, so a swapped file cannot run code."""
    path = Path(directory) / LAST
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged or foreign file
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc}); delete it to start over") from exc
