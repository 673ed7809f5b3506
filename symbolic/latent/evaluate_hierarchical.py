"""16-bar clips: the hierarchical model (one latent per 16 bars) against the 2-bar model read in pieces,
on the same held-out material and with the same independent measures as evaluate_external:

    python -m symbolic.latent.evaluate_hierarchical [--model-dir symbolic/pretrained/latent16] [--pairs 20]
        [--previous DIR]   # another 16-bar model (e.g. the one before retraining) in the same run

Material: 16-bar excerpts of POP909 melodies and bass lines from the held-out songs (evaluate_external.
pop_excerpts, same seed). Measures: grid accuracy and note F1 of greedy and sampled reconstructions;
interpolation between 16-bar melodies of different songs (8 clips): monotone pairs (similarity to A never
rises and to B never falls by more than 1/16), the first blend's likeness to A's reconstruction, blend
notes in the key of A or B. The result decides which model serves long clips by default
(families.LONG_CLIPS_BY_SECTIONS); figures go to README. The 1-minute load average at the start and end
is printed and kept in the output, since the figures are compared across runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from symbolic.latent import evaluate_external as external
from symbolic.latent.hierarchical import PRETRAINED_DIR, SectionSpace
from symbolic.latent.space import LatentSpace


def load_average() -> float:
    """The 1-minute load average (Linux), or -1 where /proc/loadavg is missing."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return -1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=PRETRAINED_DIR)
    parser.add_argument("--base-dir", type=Path, default=None, help="the 2-bar model (default: shipped)")
    parser.add_argument("--pop909", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=30, help="16-bar excerpts per line kind")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--previous", type=Path, default=None,
                        help="a second 16-bar model directory, measured on the same excerpts")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.monotonic()
    base = LatentSpace.from_pretrained(args.base_dir)
    spaces = {"pieces (2-bar model)": base, "hierarchical (16-bar model)": SectionSpace.from_pretrained(args.model_dir, base)}
    if args.previous is not None:
        spaces[f"hierarchical, previous ({args.previous})"] = SectionSpace.from_pretrained(args.previous, base)
    excerpts = external.pop_excerpts(args.pop909, args.seed)
    report: dict = {"load_average_start": load_average()}
    for name, space in spaces.items():
        entry = {}
        for kind in ("pop melody", "pop bass"):
            chosen = excerpts.get((kind, 16), [])[:args.limit]
            entry[f"{kind} 16 bars"] = external.reconstruction(space, chosen)
            print(name, kind, entry[f"{kind} 16 bars"], f"{time.monotonic() - started:.0f} s", flush=True)
        melodies = excerpts.get(("pop melody", 16), [])[:args.limit]
        entry["interpolation 16 bars"] = external.interpolation(space, melodies, args.pairs, args.seed)
        print(name, entry["interpolation 16 bars"], f"{time.monotonic() - started:.0f} s", flush=True)
        report[name] = entry
    report["load_average_end"] = load_average()
    text = json.dumps(report, indent=2)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
