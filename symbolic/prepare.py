"""Prepares the training set: `python -m symbolic.prepare [--out .cache/symbolic] [--budget-s 540]`.

Stage 1 parses music21's corpus into note tables (cached as parsed.pkl, so a rerun is instant).
Stage 2 augments (instruments, tempo, a simple bass line, drum grooves from symbolic.drums) and
tokenizes every piece into per-bar token arrays (dataset.pkl), which symbolic.train samples from.
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

from symbolic.data.corpus import parse_all

DEFAULT_CACHE = Path(".cache/symbolic")


def load_or_parse(cache_dir: Path, processes: int, budget_s: float) -> list:
    path = cache_dir / "parsed.pkl"
    if path.exists():
        with path.open("rb") as handle:
            return pickle.load(handle)
    pieces = parse_all(processes=processes, budget_s=budget_s)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pickle.dump(pieces, handle)
    return pieces


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--budget-s", type=float, default=540.0, help="wall-time budget for parsing")
    parser.add_argument("--parse-only", action="store_true")
    parser.add_argument("--versions", type=int, default=3, help="augmented versions per folk tune")
    args = parser.parse_args(argv)
    started = time.monotonic()
    pieces = load_or_parse(args.out, args.processes, args.budget_s)
    print(f"{len(pieces)} parsed pieces ({time.monotonic() - started:.0f} s)")
    if args.parse_only:
        return
    from symbolic.data.build import build_dataset

    build_dataset(pieces, args.out / "dataset.pkl", versions_per_tune=args.versions)
    print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
