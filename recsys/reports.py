"""The model comparison report: written by the experiments (``recsys.training.experiments``),
read by the app. ``<name>.json`` carries a schema version that the reader checks, ``<name>.md``
the same figures as a page. Torch-free.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

from recsys.errors import RecsysError
from recsys.evaluation import HEADLINE, METRIC_COLUMNS
from recsys.files import atomic_write

REPORT = "report.json"  # the headline comparison, at the top of the models directory
REPORT_SCHEMA_VERSION = 2


class ReportError(RecsysError):
    """A report cannot be read or lacks the structure the app shows; the message names the file."""


def write_report(results: dict[str, dict], out_dir: str | os.PathLike, meta: dict | None = None,
                 name: str = "report") -> Path:
    """Write ``<name>.json`` and ``<name>.md`` comparing models into ``out_dir``; returns the JSON path.

    ``results`` maps model name -> the dict of :func:`recsys.evaluation.evaluate`, optionally with ``train_seconds``,
    ``config`` (the hyper-parameters used) and ``notes``. ``report.json`` (what the app reads)::

        {"schema_version": REPORT_SCHEMA_VERSION, "created_at": ISO-8601 UTC, "meta": {dataset, split, ... as given},
         "k": 20, "best": name with the highest NDCG@500,
         "models": [{"name", <every METRIC_COLUMNS key>, "n_queries", "k", "ms_per_query",
                     "train_seconds" (or null), "config" (dict), "notes" (str)}, ...]}
                                                                      # best NDCG@500 first
    """
    if not results:
        raise RecsysError("write_report: no results to report")
    rows = [{"name": name, **r, "train_seconds": r.get("train_seconds"), "config": r.get("config", {}),
             "notes": r.get("notes", "")}
            for name, r in results.items()]
    rows.sort(key=lambda r: r[HEADLINE], reverse=True)
    k = rows[0]["k"]
    report = {"schema_version": REPORT_SCHEMA_VERSION,
              "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "meta": meta or {}, "k": k, "best": rows[0]["name"], "models": rows}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / f"{name}.json", lambda f: f.write((json.dumps(report, indent=2) + "\n").encode()))
    atomic_write(out / f"{name}.md", lambda f: f.write(report_markdown(report).encode()))
    return out / f"{name}.json"


def report_markdown(report: dict) -> str:
    """The report as a markdown page: what was measured, then one table row per model."""
    k = report["k"]
    meta = report["meta"]
    lines = ["# Evaluation report", ""]
    if meta:
        lines += [f"- {key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}"
                  for key, value in meta.items()]
    lines += [f"- created: {report['created_at']}; best by NDCG@500: **{report['best']}**",
              "- seeds are excluded from every ranking; per-query ms = scoring + top-500 ranking", ""]
    headers = ["model"] + [h.format(k=k) for h in METRIC_COLUMNS.values()] + ["train s", "ms/query", "notes"]
    lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in report["models"]:
        cells = [row["name"]] + [f"{row[m]:.2f}" if m == "clicks" else f"{row[m]:.4f}" for m in METRIC_COLUMNS]
        cells += ["" if row["train_seconds"] is None else f"{row['train_seconds']:.1f}",
                  f"{row['ms_per_query']:.2f}", row["notes"].replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report_meta(dataset, split, **extra) -> dict:
    """The report's header: which data and which split the figures come from."""
    return {"dataset": dataset.name, "fingerprint": dataset.meta.get("fingerprint"),
            "playlists": dataset.n_playlists, "tracks": dataset.n_tracks, "split": split.describe(),
            **extra}


def read_report(directory: str | os.PathLike) -> dict | None:
    """The comparison report (``report.json`` of ``directory``, written by :func:`write_report`);
    None when there is none. ReportError naming the file when it cannot be read or parsed, was
    written under another schema version, or lacks the structure the app shows."""
    path = Path(directory) / REPORT
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ReportError(f"{path}: unreadable ({exc})") from exc
    try:
        report = json.loads(content)
    except RecursionError as exc:
        raise ReportError(f"{path}: unreadable (JSON nested too deeply)") from exc
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ReportError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(report, dict) or not isinstance(report.get("meta", {}), dict):
        raise ReportError(f"{path}: not a comparison report (an object with a 'meta' object)")
    if report.get("schema_version") != REPORT_SCHEMA_VERSION:
        raise ReportError(f"{path}: schema_version {report.get('schema_version')!r}, this code reads "
                          f"{REPORT_SCHEMA_VERSION} (rewrite it with python -m recsys evaluate)")
    models = report.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
        raise ReportError(f"{path}: 'models' is not a list of objects")
    return report
