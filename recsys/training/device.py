"""Device choice and mixed precision: CUDA (with float16 autocast) when present, else CPU."""
from __future__ import annotations

import contextlib

import torch

from recsys.errors import RecsysError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; asking for ``cuda`` without one is an error."""
    if name not in DEVICES:
        raise RecsysError(f"device {name!r}: expected one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise RecsysError("device 'cuda' requested but torch sees no CUDA device (use --device auto or cpu)")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device):
    """float16 autocast on CUDA; a no-op on CPU (where float16 matmuls are slower, not faster)."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    """Loss scaling for float16 gradients on CUDA; disabled (a pass-through) elsewhere."""
    return torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
