"""Where things live by default. ``models_dir()`` is the one answer to "which models directory":
the app, the command line, the scripts and the serving library all ask it."""
from __future__ import annotations

import os
from pathlib import Path

MODELS_DIR_ENV = "RECSYS_MODELS_DIR"
REPO_ROOT = Path(__file__).resolve().parents[1]


def models_dir() -> Path:
    """``$RECSYS_MODELS_DIR``, else ``models/`` of this checkout (whatever the working directory)."""
    return Path(os.environ.get(MODELS_DIR_ENV) or REPO_ROOT / "models")
