"""Corruption drill: damage each artifact file in turn and check that nothing serves or hides it.

    python -m scripts.drills.corruption_drill            # every file × 4 damages × 3 offsets, app included
    python -m scripts.drills.corruption_drill --no-app   # loader checks only (seconds)

A models directory holds the fixture model (tests/fixture_artifacts.py) in two versions: an
older good one and the current one, which is damaged. For every file of the current version
(manifest.json, its checksum manifest.sha256, track_embeddings.npy, tracks.parquet, curves.csv,
projection.parquet) and every damage (truncated to half, truncated to nothing, one byte inverted, one bit flipped; the flips
at random offsets), the drill checks that:

- ``load_artifact``, ``verify`` and ``Recommender.load`` refuse with an ``ArtifactError`` whose
  message names the damaged file (a flip inside the manifest's record of another file may name
  that file: the outcome says which);
- the app (``streamlit_app.py`` through ``AppTest``) reports the damaged version and serves the
  older one instead, with a working Recommend page;
- nothing is overwritten: every other file keeps its bytes, the damaged file keeps its damage,
  and no file appears in the damaged version's directory.

A damage that left the file's bytes as they were (say, half of an empty file) is not a hit: the
drill fails when any file got fewer than ``--min-hits`` (default: one per damage kind) damages
that changed it.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from recsys import artifacts
from recsys.serving import Recommender
from tests.fixture_artifacts import make_fixture_artifact, track_id_of


ROOT = Path(__file__).resolve().parents[2]
MODEL = "fixture"
FILES = (artifacts.MANIFEST, artifacts.MANIFEST_SHA256, *artifacts.DATA_FILES)
DAMAGES = ("truncate-half", "truncate-empty", "invert-byte", "flip-bit")


@dataclass
class DamageOutcome:
    file: str
    damage: str
    refused: bool        # all three loaders raised ArtifactError
    blamed: str          # the artifact file the message names ("" if none)
    app: str             # "served the good version", "not checked", or what went wrong
    untouched: bool      # nothing else changed, the damage itself was not repaired
    message: str
    landed: bool = True  # the damage changed the file's bytes

    @property
    def passed(self) -> bool:
        return self.refused and bool(self.blamed) and self.untouched and self.app in ("served v1-good", "not checked")

    def line(self) -> str:
        named = "names it" if self.blamed == self.file else (f"names {self.blamed}" if self.blamed else "names NO file")
        verdict = "refused" if self.refused else ("CRASHED" if self.message.startswith("raised") else "LOADED")
        return (f"{self.file:<20} {self.damage:<26} {verdict:<8} {named:<30} "
                f"app: {self.app:<16} {'nothing overwritten' if self.untouched else 'FILES CHANGED'}  "
                f"{'PASS' if self.passed else 'FAIL'}")


def damage(path: Path, kind: str, rng: random.Random) -> str:
    """Damage ``path`` in place; returns the damage with its offset."""
    data = bytearray(path.read_bytes())
    if kind == "truncate-half":
        path.write_bytes(bytes(data[: len(data) // 2]))
        return f"{kind}"
    if kind == "truncate-empty":
        path.write_bytes(b"")
        return kind
    offset = rng.randrange(len(data))
    data[offset] ^= 0xFF if kind == "invert-byte" else 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    return f"{kind}@{offset}"


def fingerprint(models: Path) -> dict[str, str]:
    return {str(p.relative_to(models)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(models.rglob("*")) if p.is_file()}


def nothing_overwritten(before: dict[str, str], after: dict[str, str], damaged_version: Path) -> bool:
    """Every file keeps its bytes (the damage included) and nothing new appears in the damaged
    version; new files elsewhere (the index and search caches the fallback builds) are fine."""
    new = after.keys() - before.keys()
    return (all(after.get(name) == digest for name, digest in before.items())
            and not any(Path(name).is_relative_to(damaged_version) for name in new))


def try_loaders(models: Path) -> tuple[bool, str]:
    """(all three refused with an ArtifactError, the first message or what went wrong instead)."""
    refused, problems = [], []
    for load in (lambda: artifacts.load_artifact(MODEL, models), lambda: artifacts.verify(MODEL, models),
                 lambda: Recommender.load(MODEL, models)):
        try:
            load()
        except artifacts.ArtifactError as exc:
            refused.append(str(exc))
        except Exception as exc:  # what the drill looks for: anything but a clear ArtifactError
            problems.append(f"raised {type(exc).__name__}: {exc} (not an ArtifactError)")
        else:
            problems.append("loaded without complaint")
    return not problems, (problems or refused)[0]


def blamed_file(message: str, version_dir: Path) -> str:
    return next((name for name in FILES if str(version_dir / name) in message), "")


def app_serves_the_other_version(models: Path, broken: Path) -> str:
    """Run the app on ``models``; it must report ``broken``, serve v1-good and recommend from it."""
    import os

    import logging

    from tests.app_server import app_test

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "missing ScriptRunContext" in bare mode

    previous = os.environ.get("RECSYS_MODELS_DIR")
    os.environ["RECSYS_MODELS_DIR"] = str(models)
    try:
        app = app_test()
        app.secrets["recsys_test"] = "hermetic"
        app.run()
        if app.exception:
            return "stopped with an exception"
        errors, warnings = [e.value for e in app.error], [w.value for w in app.warning]
        if not any(broken.name in e.replace("\\", "") for e in errors):
            return "damage not reported"
        if not any("v1-good" in w.replace("\\", "") for w in warnings):
            return "no fallback notice"
        app.switch_page("pages/recommend.py").run()
        app.text_input(key="seed_search_query").input("Jóga").run()
        app.button(key=f"seed_search_pick_{track_id_of('Jóga')}").click().run()
        listed = [b for b in app.button if b.key and b.key.startswith("rec_add_")]  # one per recommendation
        if app.exception or not listed:
            return "Recommend page failed"
        return "served v1-good"
    finally:
        if previous is None:
            os.environ.pop("RECSYS_MODELS_DIR", None)
        else:
            os.environ["RECSYS_MODELS_DIR"] = previous


SERVING_CHILD = """
import sys
from recsys.serving import Recommender
recommender = Recommender.load(sys.argv[1], sys.argv[2])
ids = recommender.catalog["track_id"].tolist()
print("loaded", flush=True)
sys.stdin.readline()  # the parent damages the files now
try:
    recommender.recommend(ids[:2], k=5)
    print("answered")
except Exception as exc:
    print(f"refused: {type(exc).__name__}: {exc}")
"""


def damage_while_serving(workdir: Path, kind: str = "truncate-empty") -> str:
    """Damage the embeddings of a version a running process already serves (memory-mapped), then
    ask it for recommendations; returns how the process fared."""
    import subprocess

    models = workdir / "models-serving"
    shutil.rmtree(models, ignore_errors=True)
    path = make_fixture_artifact(models)
    child = subprocess.Popen([sys.executable, "-c", SERVING_CHILD, MODEL, str(models)], cwd=ROOT, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout.readline().strip() == "loaded"
    damage(path / artifacts.EMBEDDINGS, kind, random.Random(0))
    out, err = child.communicate("go\n", timeout=60)
    if child.returncode < 0:
        return f"the serving process died of signal {-child.returncode}"
    return out.strip() or err.strip().splitlines()[-1]


def run_drill(workdir: Path, offsets: int = 3, seed: int = 0, app: bool = True,
              files=FILES, damages=DAMAGES, report=print) -> list[DamageOutcome]:
    rng = random.Random(seed)
    models = workdir / "models"
    shutil.rmtree(models, ignore_errors=True)
    make_fixture_artifact(models, version="v1-good", make_current=False, make_default=False)
    target = make_fixture_artifact(models, version="v2-current")
    pristine = Path(tempfile.mkdtemp(dir=workdir)) / "pristine"
    shutil.copytree(target, pristine)
    outcomes = []
    for name in files:
        for kind in damages:
            for _ in range(offsets if kind in ("invert-byte", "flip-bit") else 1):
                what = damage(target / name, kind, rng)
                landed = (target / name).read_bytes() != (pristine / name).read_bytes()
                before = fingerprint(models)
                refused, message = try_loaders(models)
                verdict = app_serves_the_other_version(models, target) if app else "not checked"
                untouched = nothing_overwritten(before, fingerprint(models), target.relative_to(models))
                if not refused and "@" in what:  # which manifest line the flip hit
                    offset = int(what.split("@")[1])
                    original = (pristine / name).read_bytes()
                    line = original[original.rfind(b"\n", 0, offset) + 1:original.find(b"\n", offset)]
                    message += f" (flip in the line {line.decode().strip()!r})"
                outcome = DamageOutcome(name, what, refused, blamed_file(message, target), verdict, untouched,
                                        message, landed)
                outcomes.append(outcome)
                report(outcome.line())
                shutil.copy2(pristine / name, target / name)
    shutil.rmtree(pristine.parent)
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offsets", type=int, default=20, help="random offsets per byte/bit flip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-app", action="store_true", help="skip the AppTest fallback check")
    parser.add_argument("--min-hits", type=int, default=len(DAMAGES),
                        help="damages that must change each file (default %(default)s)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out" / "corruption-drill")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    outcomes = run_drill(args.workdir, args.offsets, args.seed, app=not args.no_app)
    blamed = Counter("the damaged file" if o.blamed == o.file else (o.blamed or "no file") for o in outcomes)
    print(f"\n{len(outcomes)} damaged files: {sum(o.refused for o in outcomes)} refused by every loader; "
          f"the message names " + ", ".join(f"{what} {n}×" for what, n in blamed.items()))
    print(f"app fell back to the good version: {sum(o.app == 'served v1-good' for o in outcomes)}/{len(outcomes)}"
          + (" (not checked)" if args.no_app else ""))
    print(f"nothing overwritten: {sum(o.untouched for o in outcomes)}/{len(outcomes)}")
    failed = [o for o in outcomes if not o.passed]
    for o in failed:
        print(f"FAILED {o.file} {o.damage}: {o.message}")
    hits = Counter(o.file for o in outcomes if o.landed)
    print("damages that changed each file: " + ", ".join(f"{name} {hits[name]}" for name in FILES)
          + f" (minimum {args.min_hits})")
    short = [name for name in FILES if hits[name] < args.min_hits]
    if short:
        print(f"FAILED: too few hits on {', '.join(short)}")
        failed.append(short)
    for kind in ("truncate-empty", "flip-bit"):
        print(f"{artifacts.EMBEDDINGS} {kind} under a process already serving it: "
              f"{damage_while_serving(args.workdir, kind)}")
    print("DRILL PASSED" if not failed else f"DRILL FAILED: {len(failed)} case(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
