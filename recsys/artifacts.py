"""Versioned embedding artifacts: the one thing that crosses from training to serving.

Layout::

    models/
      DEFAULT                     the app's default model name
      <model>/
        CURRENT                   the current version's name
        <version>/                e.g. 20261123T153355042Z-3fa2c1d9 (UTC time to the ms + content hash)
          manifest.json           schema, model config, dataset, metrics, libraries, git commit,
                                  embedding shape/dtype, sha256 + size of every file
          manifest.sha256         the manifest's own sha256 (``sha256sum -c`` format)
          track_embeddings.npy    L2-normalised rows (float16 or float32), row i <-> catalog row i
          tracks.parquet          the served catalog (CATALOG_COLUMNS + optional genre, popularity...)
          curves.csv              one row per epoch (epoch, train_loss, val_recall@20, ...)
          projection.parquet      x, y for every track (computed offline by recsys.projection)
          <name>.npy              optional named arrays (``Artifact.arrays``): the hybrid's item
                                  neighbourhoods and playlist lists (recsys.serving.continuation)

A version is written (``recsys.training.artifact_writer``) into a hidden temporary directory beside its final place and renamed into
place; ``CURRENT`` is replaced atomically and last. A crash at any moment therefore leaves the
previous version current and loadable, and a half-written directory is never listed. Loading
checks the manifest against its own sha256 and its structure first, then every file's size and
sha256, the embedding shape and dtype, and reads ``.npy`` files without pickle; any failure is an
``ArtifactError`` naming the file.

Torch-free: numpy, pandas and pyarrow only; nothing here reaches the projection (openTSNE) code.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import paths
from recsys.errors import RecsysError
from recsys.files import STALE_LEFTOVER_SECONDS, atomic_write, sha256

SCHEMA_VERSION = 1

MANIFEST = "manifest.json"
# Beside the manifest, not in it (a file cannot hold its own digest), and not in CURRENT (which
# names one version only): published in the same rename as the version directory.
MANIFEST_SHA256 = "manifest.sha256"
EMBEDDINGS = "track_embeddings.npy"
CATALOG = "tracks.parquet"
CURVES = "curves.csv"
PROJECTION = "projection.parquet"
DATA_FILES = (EMBEDDINGS, CATALOG, CURVES, PROJECTION)
# Names of the optional arrays: plain lowercase names, so a manifest can never point outside.
ARRAY_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")

# Hidden work directories: a publish in progress, a version being deleted. A crash can leave
# one behind; prune removes those older than STALE_LEFTOVER_SECONDS (a live publish is younger).
LEFTOVER_PREFIXES = (".publishing-", ".pruning-")

CURRENT = "CURRENT"
DEFAULT = "DEFAULT"

CATALOG_COLUMNS = ("track_id", "name", "artist", "album", "artist_id", "n_playlists")
EMBEDDING_DTYPES = ("float16", "float32")


class ArtifactError(RecsysError):
    """An artifact is missing, damaged or inconsistent; the message names the file and the reason."""


@dataclass(frozen=True)
class Artifact:
    """One loaded, verified artifact version. ``embeddings`` is memory-mapped (read-only)."""

    path: Path
    manifest: dict
    embeddings: np.ndarray
    catalog: pd.DataFrame

    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def embeddings_sha256(self) -> str:
        return self.manifest["files"][EMBEDDINGS]["sha256"]

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        """The optional named arrays (memory-mapped, read-only), checked when the artifact loaded."""
        return {name: _read(self.path / f"{name}.npy", lambda p: np.load(p, mmap_mode="r", allow_pickle=False))
                for name in self.manifest.get("arrays", [])}

    @cached_property
    def curves(self) -> pd.DataFrame:
        """The per-epoch training record (may be empty for models trained without epochs)."""
        return read_curves(self.path)

    @cached_property
    def projection(self) -> pd.DataFrame:
        """x, y for every catalog row, in catalog order."""
        projection = _read(self.path / PROJECTION, pd.read_parquet)
        if list(projection.columns[:2]) != ["x", "y"] or len(projection) != len(self.catalog):
            raise ArtifactError(
                f"{self.path / PROJECTION}: expected columns x, y and {len(self.catalog)} rows, "
                f"found {list(projection.columns)} and {len(projection)} rows")
        return projection


def write_pointer(path: Path, value: str) -> None:
    """Replace a one-line pointer file (CURRENT, DEFAULT) atomically."""
    atomic_write(path, lambda f: f.write(f"{value}\n".encode()))


def _read_pointer(path: Path) -> str | None:
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        return None
    return value or None


def check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not name or name.startswith(".") or "/" in name or "\\" in name:
        raise ArtifactError(f"{what} {name!r}: must be a non-empty name without '/' or a leading '.'")


# --------------------------------------------------------------------------- loading

def resolve(path_or_model: str | os.PathLike, models_dir: str | os.PathLike | None = None) -> Path:
    """The version directory meant by an artifact path, a model directory, a model name
    (its CURRENT version) or ``model/version``; names are looked up in ``models_dir``
    (default: ``recsys.paths.models_dir()``)."""
    models_dir = _root(models_dir)
    candidate = Path(path_or_model)
    if (candidate / MANIFEST).is_file():
        return candidate
    if (candidate / CURRENT).is_file():
        return _current_dir(candidate)
    named = Path(models_dir) / path_or_model
    if (named / MANIFEST).is_file():
        return named
    if named.is_dir():
        return _current_dir(named)
    known = [m["model"] for m in list_models(models_dir)]
    raise ArtifactError(f"{path_or_model}: neither an artifact directory nor a model in "
                        f"{models_dir} (models there: {known or 'none'})")


def _root(models_dir: str | os.PathLike | None) -> Path:
    return paths.models_dir() if models_dir is None else Path(models_dir)


def _current_dir(model_dir: Path) -> Path:
    version = _read_pointer(model_dir / CURRENT)
    if version is None:
        raise ArtifactError(f"{model_dir / CURRENT}: missing or empty (no current version)")
    if not (model_dir / version / MANIFEST).is_file():
        raise ArtifactError(f"{model_dir / CURRENT}: names version {version!r}, "
                            f"but {model_dir / version / MANIFEST} does not exist")
    return model_dir / version


def load_artifact(path_or_model: str | os.PathLike, models_dir: str | os.PathLike | None = None) -> Artifact:
    """Load and verify an artifact (see ``resolve`` for what ``path_or_model`` may be).

    Every file's size and sha256 are checked against the manifest, the embedding shape and dtype
    against the manifest and the catalog; the embeddings are memory-mapped read-only.
    """
    root = resolve(path_or_model, models_dir)
    manifest = _read_manifest(root)
    for name in (*DATA_FILES, *(f"{a}.npy" for a in manifest.get("arrays", []))):
        _check_file(root / name, manifest["files"][name])
    spec = manifest["embedding"]
    embeddings = _read(root / EMBEDDINGS,
                       lambda p: np.load(p, mmap_mode="r", allow_pickle=False))
    if embeddings.shape != (spec["rows"], spec["dim"]) or str(embeddings.dtype) != spec["dtype"]:
        raise ArtifactError(f"{root / EMBEDDINGS}: shape {embeddings.shape} {embeddings.dtype}, "
                            f"manifest says ({spec['rows']}, {spec['dim']}) {spec['dtype']}")
    catalog = _read(root / CATALOG, pd.read_parquet)
    missing = [c for c in CATALOG_COLUMNS if c not in catalog.columns]
    if missing:
        raise ArtifactError(f"{root / CATALOG}: missing columns {missing}")
    if len(catalog) != spec["rows"]:
        raise ArtifactError(f"{root / CATALOG}: {len(catalog)} rows, {root / EMBEDDINGS} has {spec['rows']}")
    return Artifact(root, manifest, embeddings, catalog)


def _read_manifest(root: Path) -> dict:
    """The manifest of the version in ``root``, checked against its sha256 and for the structure
    the loader relies on; an ArtifactError naming manifest.json otherwise."""
    path = root / MANIFEST
    try:
        content = path.read_bytes()
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: missing") from exc
    except OSError as exc:
        raise ArtifactError(f"{path}: unreadable ({exc})") from exc
    _check_manifest_digest(path, content)
    manifest = _parse_json(path, content)
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
        found = manifest.get("schema_version") if isinstance(manifest, dict) else None
        raise ArtifactError(f"{path}: schema_version {found!r}, this code reads {SCHEMA_VERSION}")
    _check_manifest_structure(path, manifest)
    return manifest


def _parse_json(path: Path, content: bytes):
    """``content`` parsed; any failure (bad UTF-8 or JSON, nesting too deep) an ArtifactError."""
    try:
        return json.loads(content)
    except RecursionError as exc:
        raise ArtifactError(f"{path}: unreadable (JSON nested too deeply)") from exc
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ArtifactError(f"{path}: unreadable ({exc})") from exc


def _check_manifest_digest(path: Path, content: bytes) -> None:
    digest_path = path.with_name(MANIFEST_SHA256)
    try:
        recorded = digest_path.read_bytes().split()
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: {digest_path.name}, its checksum, is missing beside it") from exc
    except OSError as exc:
        raise ArtifactError(f"{path}: its checksum {digest_path} is unreadable ({exc})") from exc
    if recorded != [hashlib.sha256(content).hexdigest().encode(), MANIFEST.encode()]:
        raise ArtifactError(f"{path}: sha256 does not match {digest_path.name} "
                            f"(the manifest or its checksum is corrupted or was modified)")


def _check_manifest_structure(path: Path, manifest: dict) -> None:
    """Every key the loader and the app read, with its type: a damaged or hand-edited manifest
    is refused here rather than failing later with a KeyError."""
    def field(mapping: dict, key: str, kind: type, where: str = ""):
        value = mapping.get(key)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ArtifactError(f"{path}: {where}{key!r} is missing or not a {kind.__name__} "
                                f"(found {value!r})")
        return value

    field(manifest, "model", str)
    field(manifest, "version", str)
    embedding = field(manifest, "embedding", dict)
    for key in ("rows", "dim"):
        field(embedding, key, int, "embedding ")
    if embedding.get("dtype") not in EMBEDDING_DTYPES:
        raise ArtifactError(f"{path}: embedding 'dtype' is {embedding.get('dtype')!r}, "
                            f"expected one of {EMBEDDING_DTYPES}")
    files = field(manifest, "files", dict)
    for name in DATA_FILES:
        record = field(files, name, dict, "files ")
        field(record, "sha256", str, f"files {name!r} ")
        field(record, "bytes", int, f"files {name!r} ")
    arrays = manifest.get("arrays", [])
    if not isinstance(arrays, list) or not all(isinstance(a, str) and ARRAY_NAME.fullmatch(a) for a in arrays):
        raise ArtifactError(f"{path}: 'arrays' must be a list of plain array names (found {arrays!r})")
    for name in arrays:
        record = field(files, f"{name}.npy", dict, "files ")
        field(record, "sha256", str, f"files {name + '.npy'!r} ")
        field(record, "bytes", int, f"files {name + '.npy'!r} ")
    for key in ("config", "dataset", "metrics"):
        if key in manifest:
            field(manifest, key, dict)


def _check_file(path: Path, record: dict) -> None:
    if not path.is_file():
        raise ArtifactError(f"{path}: missing")
    size = path.stat().st_size
    if size != record["bytes"]:
        raise ArtifactError(f"{path}: {size} bytes, manifest says {record['bytes']} (truncated or replaced)")
    if sha256(path) != record["sha256"]:
        raise ArtifactError(f"{path}: sha256 checksum mismatch (file is corrupted or was modified)")


def read_curves(path: str | os.PathLike) -> pd.DataFrame:
    """curves.csv of the artifact directory ``path``, without loading the rest of the artifact;
    an empty DataFrame for a model published without epochs (its file holds no header)."""
    def read(file: Path) -> pd.DataFrame:
        try:
            return pd.read_csv(file)
        except pd.errors.EmptyDataError:
            return pd.DataFrame()
    return _read(Path(path) / CURVES, read)


def _read(path: Path, reader):
    try:
        return reader(path)
    except ArtifactError:
        raise
    except Exception as exc:  # numpy/pyarrow/pandas raise many types for a damaged file
        raise ArtifactError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from exc


# --------------------------------------------------------------------------- management

def verify(path_or_model: str | os.PathLike, models_dir: str | os.PathLike | None = None) -> Artifact:
    """Load an artifact and read every file fully (curves and projection too); raise on any fault."""
    artifact = load_artifact(path_or_model, models_dir)
    artifact.curves, artifact.projection  # noqa: B018 - reading them is the check
    if not np.isfinite(np.asarray(artifact.embeddings, dtype=np.float32)).all():
        raise ArtifactError(f"{artifact.path / EMBEDDINGS}: contains NaN or infinite values")
    return artifact


def versions(models_dir: str | os.PathLike, model: str) -> list[str]:
    """Published versions of ``model``, oldest first (in-progress temporary dirs excluded)."""
    model_dir = Path(models_dir) / model
    if not model_dir.is_dir():
        return []
    return sorted(p.name for p in model_dir.iterdir()
                  if not p.name.startswith(".") and (p / MANIFEST).is_file())


def current_version(models_dir: str | os.PathLike, model: str) -> str | None:
    return _read_pointer(Path(models_dir) / model / CURRENT)


def list_models(models_dir: str | os.PathLike | None = None) -> list[dict]:
    """One entry per model directory: name, current version, number of versions, whether default."""
    root = _root(models_dir)
    if not root.is_dir():
        return []
    default = default_model(root)
    models = [p.name for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    counts = {name: len(versions(root, name)) for name in models}
    return [{"model": name, "current": current_version(root, name), "versions": counts[name],
             "default": name == default} for name in models if counts[name]]


def list_artifacts(models_dir: str | os.PathLike | None = None) -> list[dict]:
    """Every published version (unverified; read from manifests): model, version, current,
    created_at, rows, dim, dtype, metrics, path."""
    models_dir = _root(models_dir)
    rows = []
    for entry in list_models(models_dir):
        model = entry["model"]
        for version in versions(models_dir, model):
            path = Path(models_dir) / model / version
            try:
                manifest = _read_manifest(path)
            except ArtifactError as exc:
                rows.append({"model": model, "version": version, "path": str(path), "error": str(exc)})
                continue
            spec = manifest["embedding"]
            rows.append({"model": model, "version": version, "current": version == entry["current"],
                         "created_at": manifest.get("created_at"), "rows": spec["rows"],
                         "dim": spec["dim"], "dtype": spec["dtype"],
                         "metrics": manifest.get("metrics", {}), "path": str(path)})
    return rows


def promote(models_dir: str | os.PathLike, model: str, version: str) -> Path:
    """Make ``version`` the current one, after verifying it."""
    check_name(version, "version")
    path = Path(models_dir) / model / version
    if not (path / MANIFEST).is_file():
        raise ArtifactError(f"{path}: no such version of {model!r} "
                            f"(versions: {versions(models_dir, model) or 'none'})")
    verify(path)
    write_pointer(Path(models_dir) / model / CURRENT, version)
    return path


def prune(models_dir: str | os.PathLike, model: str, keep: int = 3) -> list[Path]:
    """Delete all but the ``keep`` newest versions of ``model``; never the current one. Also
    removes temporary directories left by publishes that crashed over an hour ago.
    Returns the removed directories."""
    if not isinstance(keep, int) or keep < 1:
        raise ArtifactError(f"keep={keep!r}: must be an integer >= 1")
    model_dir = Path(models_dir) / model
    current = current_version(models_dir, model)
    doomed = [v for v in versions(models_dir, model)[:-keep] if v != current]
    removed = []
    for version in doomed:
        path = model_dir / version
        # Renamed aside first so a reader never sees a half-deleted version under its real name.
        aside = path.with_name(f"{LEFTOVER_PREFIXES[1]}{version}")
        os.rename(path, aside)
        shutil.rmtree(aside)
        removed.append(path)
    cutoff = time.time() - STALE_LEFTOVER_SECONDS
    for leftover in model_dir.glob(".*"):
        if (leftover.is_dir() and leftover.name.startswith(LEFTOVER_PREFIXES)
                and leftover.stat().st_mtime < cutoff):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


def set_default_model(models_dir: str | os.PathLike, model: str) -> None:
    """Name ``model`` (which must have a current version) as the app's default."""
    if current_version(models_dir, model) is None:
        raise ArtifactError(f"{Path(models_dir) / model / CURRENT}: {model!r} has no current version")
    write_pointer(Path(models_dir) / DEFAULT, model)


def default_model(models_dir: str | os.PathLike | None = None) -> str | None:
    return _read_pointer(_root(models_dir) / DEFAULT)
