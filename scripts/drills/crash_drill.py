"""Crash drill: ``kill -9`` of ``python -m recsys train`` at random moments, then ``--resume``.

    python -m scripts.drills.crash_drill                 # 20 kills (10-20 minutes on 2 shared cores)
    python -m scripts.drills.crash_drill --kills 6 --seed 1
    python -m scripts.drills.crash_drill --kills 3 --phases publish --min-hits 2

Each kill starts a fresh training run on a small synthetic MPD dataset and kills it with
SIGKILL in one of three phases, in turn: during an epoch (a random moment of a random epoch
after the second), while a checkpoint is being written (as soon as the temporary file of a random
epoch's checkpoint appears, plus a random 0-2 ms), or while the artifact is being published (as soon as the hidden
``.publishing-*`` directory appears, plus a random 0-20 ms). What the process was doing is read
afterwards from what it left on disk, which a SIGKILL freezes: a ``.last.*.tmp`` file means the
checkpoint write was cut, a ``.publishing-*`` directory the publish.

After each kill: the model's current artifact (if any) must load and verify, nothing but
complete, verified versions may be visible in the model's directory (a half-written version under
a visible name fails), and ``--resume`` must finish and publish a version that verifies and is
current. Meanwhile a thread loads the current artifact over and over, so "at every moment" is
checked literally; any exception there is a failure.

A kill that misses its phase (the run finished first, or was killed before or after the window)
proves nothing about that phase: the drill counts the kills that *landed* in each phase aimed at
and fails when any phase has fewer than ``--min-hits`` (default 3). Prints one line per kill,
the hits per phase and the verdict.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from recsys import artifacts
from recsys.training.checkpoint import LAST, load_checkpoint


ROOT = Path(__file__).resolve().parents[2]
PHASES = ("epoch", "checkpoint", "publish")
# What a kill must have left on disk to count as landed in the phase it aimed at.
LANDED = {"epoch": ("epoch",), "checkpoint": ("checkpoint write",),
          "publish": ("publish (writing files)", "publish (CURRENT not yet moved)")}
MIN_HITS = 3
MODEL = "lightgcn"
# Small enough that a run takes seconds, big enough that a checkpoint write and a publish take
# long enough (milliseconds) for a poll to land inside them.
EPOCHS = 6
TRAIN_ARGS = ["--model", MODEL, "--set", f"epochs={EPOCHS}", "--set", "patience=6", "--set", "steps_per_epoch=4",
              "--set", "batch_size=256", "--set", "embedding_dim=64", "--val-playlists", 20, "--quiet"]
RUN_TIMEOUT = 300


@dataclass
class KillOutcome:
    number: int
    target: str           # the phase aimed at
    observed: str         # what the process left on disk: epoch, checkpoint write, publish ...
    epochs_done: int      # epochs in the checkpoint the kill left (0: none)
    current_ok: bool      # the current artifact (or none yet) loaded and verified after the kill
    visible_ok: bool      # every visible entry of the model directory is a verified version
    resume_ok: bool       # --resume exited 0, published a version that verifies and is current
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.current_ok and self.visible_ok and self.resume_ok

    @property
    def landed(self) -> bool:
        return self.observed in LANDED[self.target]

    def line(self) -> str:
        verdict = ("PASS" if self.passed else "FAIL") + ("" if self.landed else " (missed its phase)")
        return (f"kill {self.number:2d}  aimed at {self.target:<10}  observed {self.observed:<26}  "
                f"epochs done {self.epochs_done}  current artifact {'ok' if self.current_ok else 'BROKEN'}  "
                f"resume {'ok' if self.resume_ok else 'FAILED'}  {verdict}  {self.detail}")


def make_dataset(out_dir: Path, playlists: int = 300, tracks: int = 1500, seed: int = 0) -> Path:
    """A small synthetic MPD slice, ingested like the real thing."""
    from recsys.ingest.mpd import ingest_mpd
    from recsys.ingest.synthetic_mpd import write_synthetic_mpd

    if (out_dir / "dataset" / "dataset.json").is_file():
        return out_dir / "dataset"
    write_synthetic_mpd(out_dir / "slices", 1, playlists_per_slice=playlists, n_tracks=tracks, seed=seed)
    ingest_mpd(out_dir / "slices", out_dir / "dataset", name="crash-drill", workers=1)
    return out_dir / "dataset"


def train(dataset: Path, models: Path, checkpoints: Path, *extra) -> subprocess.Popen:
    command = [sys.executable, "-m", "recsys", "train", "--dataset", dataset, "--out", models,
               "--checkpoint-dir", checkpoints, *extra]
    return subprocess.Popen([str(c) for c in command], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _hidden(directory: Path, prefix: str) -> list[Path]:
    try:
        return [p for p in directory.iterdir() if p.name.startswith(prefix)]
    except FileNotFoundError:
        return []


def _wait_for(proc: subprocess.Popen, appeared, poll: float, timeout: float = RUN_TIMEOUT) -> bool:
    """Poll until ``appeared()`` or the process ends; True if it appeared while still running."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if appeared():
            return True
        time.sleep(poll)
    return False


def kill_during(phase: str, proc: subprocess.Popen, models: Path, checkpoints: Path,
                rng: random.Random, leftovers: set[Path]) -> bool:
    """SIGKILL ``proc`` in ``phase``; False if it finished before the moment came. ``leftovers``:
    hidden directories earlier kills left, which are not this run's publish."""
    if phase == "epoch":
        # A random moment of epoch k+1 (k = 2..EPOCHS-1): after checkpoint k, a random share of
        # the time epoch k took (from checkpoint k-1 to k).
        k, finished, seen = rng.randint(2, EPOCHS - 1), {}, set()

        def checkpoint_k_written() -> bool:
            try:
                stat = (checkpoints / LAST).stat()
            except FileNotFoundError:
                return False
            if (stat.st_ino, stat.st_mtime_ns) not in seen:  # a new checkpoint: read its epoch
                seen.add((stat.st_ino, stat.st_mtime_ns))
                finished.setdefault(int(load_checkpoint(checkpoints)["run"]["epoch"]), time.monotonic())
            return max(finished, default=0) >= k
        reached = _wait_for(proc, checkpoint_k_written, 0.005)
        if reached and k - 1 in finished:
            time.sleep(rng.uniform(0.0, 1.0) * (finished[k] - finished[k - 1]))
    elif phase == "checkpoint":
        # The write of a random epoch's checkpoint: from the second on, the previous one must survive.
        # Writes are counted by the temporary files seen and by the checkpoints completed (each
        # os.replace gives last.pt a new inode and time), so a write too quick for the poll counts.
        nth, temporaries, completed = rng.randint(1, EPOCHS), set(), set()

        def nth_write_started() -> bool:
            writing = {p.name for p in _hidden(checkpoints, ".last.")}
            temporaries.update(writing)
            try:
                stat = (checkpoints / LAST).stat()
                completed.add((stat.st_ino, stat.st_mtime_ns))
            except FileNotFoundError:
                pass
            return bool(writing) and max(len(temporaries), len(completed) + 1) >= nth
        reached = _wait_for(proc, nth_write_started, 0.0002)
        time.sleep(rng.uniform(0.0, 0.002))
    else:
        # Any new entry in the model's directory: the hidden temporary directory of a publish, or
        # (in a publish that writes in place) a visible one.
        reached = _wait_for(proc, lambda: bool(set((models / MODEL).glob("*")) - leftovers
                                              - {models / MODEL / artifacts.CURRENT}), 0.0005)
        time.sleep(rng.uniform(0.0, 0.02))
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    return reached


def observed_phase(models: Path, checkpoints: Path, versions_before: list[str],
                   leftovers: set[Path]) -> tuple[str, int]:
    """What the killed run was doing, from what it left, and the epochs its checkpoint holds."""
    state = load_checkpoint(checkpoints)  # also proves the checkpoint survived the kill
    epochs = int(state["run"]["epoch"]) if state else 0
    if _hidden(checkpoints, ".last."):
        return "checkpoint write", epochs
    if set(_hidden(models / MODEL, artifacts.LEFTOVER_PREFIXES[0])) - leftovers or _incomplete(models):
        return "publish (writing files)", epochs
    after = artifacts.versions(models, MODEL)
    if len(after) > len(versions_before):
        current = artifacts.current_version(models, MODEL)
        return ("publish (CURRENT not yet moved)" if current != after[-1] else "after publish"), epochs
    if state is None:
        return "start-up (no checkpoint yet)", epochs
    if epochs >= EPOCHS:
        return "publish (t-SNE, no files yet)", epochs
    return "epoch", epochs


def _incomplete(models: Path) -> list[str]:
    """Visible entries of the model's directory that are not complete, verified versions."""
    bad = []
    for entry in sorted((models / MODEL).glob("[!.]*")):
        if entry.name == artifacts.CURRENT:
            continue
        try:
            artifacts.verify(entry)
        except artifacts.ArtifactError:
            bad.append(entry.name)
    return bad


def check_current(models: Path) -> tuple[bool, str]:
    """The current artifact verifies, or there is none yet; ``(ok, version or error)``."""
    if artifacts.current_version(models, MODEL) is None:
        return True, "none yet"
    try:
        return True, artifacts.verify(MODEL, models).version
    except artifacts.ArtifactError as exc:
        return False, str(exc)


class CurrentWatcher(threading.Thread):
    """Loads the current artifact in a loop until stopped; counts loads and failures."""

    def __init__(self, models: Path):
        super().__init__(daemon=True)
        self.models, self.loads, self.failures = models, 0, []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            if artifacts.current_version(self.models, MODEL) is not None:
                try:
                    artifacts.load_artifact(MODEL, self.models)
                    self.loads += 1
                except Exception as exc:  # any exception: an ArtifactError or a crash of the loader
                    self.failures.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.01)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def one_kill(number: int, phase: str, dataset: Path, models: Path, checkpoints: Path,
             rng: random.Random, train_args: list) -> KillOutcome:
    versions_before = artifacts.versions(models, MODEL)
    leftovers = set((models / MODEL).glob("*"))
    proc = train(dataset, models, checkpoints, *train_args)
    if not kill_during(phase, proc, models, checkpoints, rng, leftovers):
        return KillOutcome(number, phase, "finished before the kill", 0, True, not _incomplete(models),
                           proc.returncode == 0, "(moment missed: not a hit)")
    observed, epochs = observed_phase(models, checkpoints, versions_before, leftovers)
    current_ok, current = check_current(models)
    incomplete = _incomplete(models)
    visible_ok = not incomplete

    resumed = train(dataset, models, checkpoints, *train_args, "--resume")
    out, err = resumed.communicate(timeout=RUN_TIMEOUT)
    resume_ok, detail = resumed.returncode == 0, f"current before resume: {current}"
    if incomplete:
        detail += f"; visible but incomplete: {', '.join(incomplete)}"
    if resume_ok:
        published = Path(out.strip().splitlines()[-1])
        try:
            artifact = artifacts.verify(published)
            resume_ok = artifacts.current_version(models, MODEL) == artifact.version
        except artifacts.ArtifactError as exc:
            resume_ok, detail = False, str(exc)
    else:
        detail = err.strip().splitlines()[-1] if err.strip() else f"exit {resumed.returncode}"
    return KillOutcome(number, phase, observed, epochs, current_ok, visible_ok, resume_ok, detail)


def run_drill(workdir: Path, kills: int, seed: int = 0, dataset: Path | None = None,
              phases: tuple[str, ...] = PHASES, train_args: list = TRAIN_ARGS,
              report=print) -> tuple[list[KillOutcome], CurrentWatcher]:
    """``kills`` kill-and-resume rounds in ``workdir``, aimed at ``phases`` in turn; every round
    shares one models directory (so later rounds kill while an earlier version is current) and
    has its own checkpoints. ``train_args`` must keep ``--model lightgcn --set epochs=EPOCHS``."""
    rng = random.Random(seed)
    dataset = dataset or make_dataset(workdir)
    models = workdir / "models"
    watcher = CurrentWatcher(models)
    watcher.start()
    outcomes = []
    try:
        for number in range(1, kills + 1):
            outcome = one_kill(number, phases[(number - 1) % len(phases)], dataset, models,
                               workdir / f"checkpoints-{number}", rng, train_args)
            outcomes.append(outcome)
            report(outcome.line())
    finally:
        watcher.stop()
    return outcomes, watcher


def problems(outcomes: list[KillOutcome], watcher: CurrentWatcher, phases: tuple[str, ...],
             min_hits: int) -> list[str]:
    """Why the drill fails (empty: it passes): a kill not recovered from, a failed background
    load, or a phase aimed at with fewer than ``min_hits`` kills landed in it."""
    found = [o.line() for o in outcomes if not o.passed]
    found += [f"background load failed: {failure}" for failure in watcher.failures[:3]]
    hits = Counter(o.target for o in outcomes if o.landed)
    found += [f"only {hits[phase]} of the kills aimed at {phase} landed there (minimum {min_hits})"
              for phase in phases if hits[phase] < min_hits]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--min-hits", type=int, default=MIN_HITS,
                        help="kills that must land in each phase aimed at (default %(default)s)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out" / "crash-drill")
    args = parser.parse_args()
    import shutil
    shutil.rmtree(args.workdir / "models", ignore_errors=True)
    for old in args.workdir.glob("checkpoints-*"):
        shutil.rmtree(old)
    began = time.perf_counter()
    phases = tuple(args.phases)
    outcomes, watcher = run_drill(args.workdir, args.kills, args.seed, phases=phases)
    print(f"\n{len(outcomes)} kills in {time.perf_counter() - began:.0f} s; observed phases: "
          + ", ".join(f"{n} {phase}" for phase, n in Counter(o.observed for o in outcomes).items()))
    hits = Counter(o.target for o in outcomes if o.landed)
    aimed = Counter(o.target for o in outcomes)
    print("landed in the phase aimed at: " + ", ".join(f"{phase} {hits[phase]}/{aimed[phase]}" for phase in phases)
          + f" (minimum {args.min_hits} each)")
    print(f"current artifact verified after {sum(o.current_ok for o in outcomes)}/{len(outcomes)} kills; "
          f"only complete versions visible after {sum(o.visible_ok for o in outcomes)}/{len(outcomes)}; "
          f"resume finished and published a verified current version after "
          f"{sum(o.resume_ok for o in outcomes)}/{len(outcomes)}")
    print(f"background loads of the current artifact during the drill: {watcher.loads} ok, "
          f"{len(watcher.failures)} failed" + (f" (first: {watcher.failures[0]})" if watcher.failures else ""))
    leftovers = sum(len(_hidden(args.workdir / "models" / MODEL, p)) for p in artifacts.LEFTOVER_PREFIXES)
    print(f"hidden leftovers of cut publishes (never listed; `artifacts prune` removes them after "
          f"{artifacts.STALE_LEFTOVER_SECONDS // 3600} h): {leftovers}")
    failed = problems(outcomes, watcher, phases, args.min_hits)
    for problem in failed:
        print(f"  problem: {problem}")
    print("DRILL PASSED" if not failed else f"DRILL FAILED: {len(failed)} problem(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
