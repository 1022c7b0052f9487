"""The write side of artifacts (``recsys.artifacts`` holds the format and reads them): a new
version written into a hidden temporary directory, checksummed, renamed into place, and the
model's ``CURRENT`` pointer moved last. Offline only: the 2-D projection (openTSNE) is computed
here when not given.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.artifacts import (ARRAY_NAME, CATALOG, CATALOG_COLUMNS, CURRENT, CURVES, DATA_FILES,
                              EMBEDDING_DTYPES, EMBEDDINGS, LEFTOVER_PREFIXES, MANIFEST, MANIFEST_SHA256,
                              PROJECTION, SCHEMA_VERSION, ArtifactError, check_name, write_pointer)
from recsys.files import publish_dir, sha256
from recsys.scoring import l2_normalize

# Recorded in every manifest; looked up without importing them.
LIBRARIES = ("numpy", "pandas", "pyarrow", "faiss-cpu", "torch", "torch-geometric", "scipy")


def write_artifact(models_dir: str | os.PathLike, model: str, *, embeddings: np.ndarray,
            catalog: pd.DataFrame, curves: pd.DataFrame | list[dict] | None, config: dict,
            dataset_meta: dict, metrics: dict, projection: np.ndarray | pd.DataFrame | None = None,
            dtype: str = "float16", make_current: bool = True, version: str | None = None,
            arrays: dict[str, np.ndarray] | None = None) -> Path:
    """Write a new version of ``model`` under ``models_dir`` and return its directory.

    ``embeddings`` (n × d) are L2-normalised and stored as ``dtype``; ``catalog`` row i describes
    embedding row i and needs CATALOG_COLUMNS. ``projection`` (n × 2) is computed with
    ``recsys.projection.project`` when not given. ``config`` (model and hyper-parameters),
    ``dataset_meta`` (name, fingerprint, counts) and ``metrics`` go into the manifest as given.
    ``arrays`` (name -> numpy array) are stored as ``<name>.npy`` under the same checksums.
    With ``make_current`` the model's CURRENT pointer moves to the new version (last step).
    """
    arrays = arrays or {}
    for name in arrays:
        if not isinstance(name, str) or not ARRAY_NAME.fullmatch(name):
            raise ArtifactError(f"array name {name!r}: expected lowercase letters, digits and '_'")
    check_name(model, "model name")
    if dtype not in EMBEDDING_DTYPES:
        raise ArtifactError(f"dtype {dtype!r}: expected one of {EMBEDDING_DTYPES}")
    vectors = _checked_embeddings(embeddings, catalog)
    catalog = _checked_catalog(catalog)
    stored = l2_normalize(vectors).astype(dtype)
    if projection is None:
        from recsys.projection import project
        projection = project(stored)
    projection = _checked_projection(projection, len(catalog))
    curves = pd.DataFrame(curves if curves is not None else [])

    model_dir = Path(models_dir) / model
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=LEFTOVER_PREFIXES[0], dir=model_dir))
    tmp.chmod(0o755)  # mkdtemp makes it 0700; an app running as another user must read it
    try:
        np.save(tmp / EMBEDDINGS, stored, allow_pickle=False)
        catalog.to_parquet(tmp / CATALOG, index=False)
        curves.to_csv(tmp / CURVES, index=False)
        projection.to_parquet(tmp / PROJECTION, index=False)
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        stored_files = (*DATA_FILES, *(f"{name}.npy" for name in arrays))
        files = {name: _file_record(tmp / name) for name in stored_files}
        if version is None:
            version = _new_version(files[EMBEDDINGS]["sha256"], files[CATALOG]["sha256"])
        check_name(version, "version")
        if (model_dir / version).exists():
            raise ArtifactError(f"{model_dir / version}: version already exists")
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "model": model,
            "version": version,
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "config": config,
            "dataset": dataset_meta,
            "metrics": metrics,
            "embedding": {"rows": int(stored.shape[0]), "dim": int(stored.shape[1]),
                          "dtype": dtype, "l2_normalized": True},
            "libraries": _library_versions(),
            "git_commit": _git_commit(),
            "arrays": sorted(arrays),
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n")
        (tmp / MANIFEST_SHA256).write_text(f"{sha256(tmp / MANIFEST)}  {MANIFEST}\n")
        publish_dir(tmp, model_dir / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if make_current:
        write_pointer(model_dir / CURRENT, version)
    return model_dir / version


def _checked_embeddings(embeddings, catalog) -> np.ndarray:
    vectors = np.asarray(embeddings)
    if vectors.ndim != 2 or vectors.shape[1] == 0:
        raise ArtifactError(f"embeddings: expected a 2-D (tracks × dim) array, got shape {vectors.shape}")
    if vectors.shape[0] != len(catalog):
        raise ArtifactError(f"embeddings have {vectors.shape[0]} rows but the catalog has {len(catalog)}")
    if not np.issubdtype(vectors.dtype, np.floating) or not np.isfinite(vectors).all():
        raise ArtifactError("embeddings: expected finite floating-point values")
    return vectors


def _checked_catalog(catalog: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in CATALOG_COLUMNS if c not in catalog.columns]
    if missing:
        raise ArtifactError(f"catalog is missing columns {missing}")
    if catalog["track_id"].isna().any() or catalog["track_id"].duplicated().any():
        raise ArtifactError("catalog: track_id must be present and unique on every row")
    catalog = catalog.reset_index(drop=True).copy()
    for col in ("track_id", "name", "artist", "album", "artist_id"):
        catalog[col] = catalog[col].fillna("").astype("string")
    catalog["n_playlists"] = catalog["n_playlists"].astype(np.int32)
    return catalog


def _checked_projection(projection, n_rows: int) -> pd.DataFrame:
    frame = projection if isinstance(projection, pd.DataFrame) else pd.DataFrame(
        np.asarray(projection, dtype=np.float32).reshape(-1, 2), columns=["x", "y"])
    if list(frame.columns[:2]) != ["x", "y"] or len(frame) != n_rows:
        raise ArtifactError(f"projection: expected columns x, y and {n_rows} rows, "
                            f"got {list(frame.columns)} and {len(frame)} rows")
    return frame.astype({"x": np.float32, "y": np.float32}).reset_index(drop=True)


def _new_version(*hashes: str) -> str:
    now = _dt.datetime.now(_dt.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"  # ms: sortable
    return f"{stamp}-{hashlib.sha256(''.join(hashes).encode()).hexdigest()[:8]}"


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, _dt.datetime)):
        return str(value)
    raise TypeError(f"manifest value {value!r} of type {type(value).__name__} is not JSON-serialisable")


def _library_versions() -> dict:
    versions = {"python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _file_record(path: Path) -> dict:
    return {"sha256": sha256(path), "bytes": path.stat().st_size}
