"""Start-up of the command-line tool, each command run as a whole new process.

    .venv/bin/python -m benchmarks.startup [--repeats 3] [--before REV]

Measured per command (median wall time over --repeats runs, and the largest peak RSS of the process,
measured by GNU time):
- `python -c pass`: the interpreter alone, the floor every command pays;
- `ostinato --help`;
- `ostinato parse-text "jig in D"` (in-process: the command starts its own server on loopback);
- `ostinato generate --bars 4` in-process (loads the Composer; writes a MIDI file);
- first melody chunk on a preloaded server: `ostinato serve --preload` is started, and once it prints
  its address a client process times GenerateFromMelody from the call to the first audio chunk
  (the server's start-up time, to its "serving on" line, is printed beside it).

With --before REV the same commands also run on the tree of that git revision (exported with
`git archive` into a temporary directory, same interpreter and packages), so before and after come
from one run on the same machine load; both trees are byte-compiled first. Targets (issue 8):
--help <= 0.5 s, parse-text <= 1 s, generate --bars 4 <= 2 s and <= 350 MB, first melody chunk on a
preloaded server <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TIME = "/usr/bin/time"  # GNU time (apt: time), for each command's peak RSS

# A client that times the first audio chunk of GenerateFromMelody (a plucked D major line as WAV).
_MELODY_PROBE = r"""
import io, sys, time, wave
import numpy as np
from server.client import Client
rate = 32000
t = np.arange(int(0.25 * rate)) / rate
notes = [62, 64, 66, 67, 69, 71, 73, 74] * 2
tone = np.concatenate([np.exp(-6 * t) * np.sin(2 * np.pi * 440.0 * 2 ** ((n - 69) / 12) * t) for n in notes])
buffer = io.BytesIO()
with wave.open(buffer, "wb") as out:
    out.setnchannels(1); out.setsampwidth(2); out.setframerate(rate)
    out.writeframes((0.3 * tone * 32767).astype("<i2").tobytes())
with Client(sys.argv[1], timeout_s=120.0) as client:
    client.wait_ready(30.0)
    started = time.perf_counter()
    first = None
    for event in client.iter_generate_from_melody(audio=buffer.getvalue(), text="solo flute", duration_s=4.0,
                                                  seed=1):
        if hasattr(event, "pcm_s16le") and first is None:  # the first audio block
            first = time.perf_counter() - started
    print(f"first_chunk_s {first:.3f} total_s {time.perf_counter() - started:.3f}")
"""


@dataclass
class Run:
    wall_s: float
    peak_rss_mb: float
    output: str


def run_process(args: list[str], cwd: Path) -> Run:
    """Runs a command to its end; wall time and the command's own peak RSS. GNU time measures it: the
    rusage of a child forked from this (large) Python process would count this process's pages too."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.NamedTemporaryFile(prefix="ostinato-rss-") as rss_file:
        started = time.perf_counter()
        process = subprocess.run([TIME, "-f", "%M", "-o", rss_file.name, *args], cwd=cwd, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        wall_s = time.perf_counter() - started
        peak_kib = int(Path(rss_file.name).read_text().split()[-1])
    output = process.stdout.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {process.returncode}:\n{output[-2000:]}")
    return Run(wall_s, peak_kib / 1024, output)


def first_melody_chunk(cwd: Path) -> tuple[float, float]:
    """(server start-up to its 'serving on' line, first chunk of the first melody call) in seconds."""
    env = {**os.environ, "OSTINATO_DEFAULT_SOUNDFONT": "TimGM6mb"}
    started = time.perf_counter()
    server = subprocess.Popen([PYTHON, "-m", "server.cli", "serve", "--preload", "--port", "0",
                               "--log-level", "WARNING"], cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        serving_s = time.perf_counter() - started
        match = re.search(r"serving on (\S+:\d+)", line)
        if not match:
            raise RuntimeError(f"the server did not start: {line!r}")
        probe = run_process([PYTHON, "-c", _MELODY_PROBE, match.group(1)], cwd)
        found = re.search(r"first_chunk_s ([0-9.]+)", probe.output)
        if not found:
            raise RuntimeError(f"no first chunk: {probe.output[-1000:]}")
        return serving_s, float(found.group(1))
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def commands(workdir: Path) -> dict[str, list[str]]:
    cli = [PYTHON, "-m", "server.cli"]
    return {
        "python -c pass": [PYTHON, "-c", "pass"],
        "ostinato --help": [*cli, "--help"],
        'ostinato parse-text "jig in D"': [*cli, "parse-text", "jig in D"],
        "ostinato generate --bars 4": [*cli, "generate", "--bars", "4", "--seed", "7", "--quiet",
                                       "-o", str(workdir / "startup.mid")],
    }


def measure_tree(tree: Path, repeats: int, melody: bool) -> dict[str, tuple[float, float]]:
    """Median wall seconds and largest peak RSS (MB) of each command run in `tree`."""
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ostinato-startup-") as scratch:
        for name, args in commands(Path(scratch)).items():
            runs = [run_process(args, tree) for _ in range(repeats)]
            results[name] = (statistics.median(r.wall_s for r in runs), max(r.peak_rss_mb for r in runs))
    if melody:
        serving, first = zip(*(first_melody_chunk(tree) for _ in range(repeats)))
        results["serve --preload: to 'serving on'"] = (statistics.median(serving), float("nan"))
        results["first melody chunk (preloaded server)"] = (statistics.median(first), float("nan"))
    return results


def compile_tree(tree: Path) -> None:
    """Byte-compiles the tree's own modules first, so both trees start from the same state (the
    commands run with PYTHONDONTWRITEBYTECODE: an exported tree would otherwise compile every module
    from source on every run, while a working tree has its caches from earlier runs)."""
    subprocess.run([PYTHON, "-m", "compileall", "-q", "-x", r"(\.venv|node_modules|\.git)/", str(tree)],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def export_tree(revision: str, into: Path) -> Path:
    """The files of `revision` (git archive; the shared working tree is not touched)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", revision],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


TARGETS = {
    "ostinato --help": (0.5, None),
    'ostinato parse-text "jig in D"': (1.0, None),
    "ostinato generate --bars 4": (2.0, 350.0),
    "first melody chunk (preloaded server)": (1.0, None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", metavar="REV", help="also measure the tree of this git revision")
    parser.add_argument("--no-melody", action="store_true", help="skip the preloaded-server melody probe")
    args = parser.parse_args()

    trees: dict[str, Path] = {}
    scratch = Path(tempfile.mkdtemp(prefix="ostinato-before-"))
    try:
        if args.before:
            trees[f"before ({args.before})"] = export_tree(args.before, scratch)
        trees["now"] = ROOT
        for tree in trees.values():
            compile_tree(tree)
        measured = {label: measure_tree(tree, args.repeats, not args.no_melody) for label, tree in trees.items()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"\n== start-up, whole processes (median of {args.repeats}; peak RSS the largest)")
    print(f"   load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    labels = list(measured)
    header = f"{'command':42s}" + "".join(f"{label:>26s}" for label in labels) + "   target"
    print(header)
    for name in measured[labels[-1]]:
        cells = []
        for label in labels:
            wall_s, rss_mb = measured[label].get(name, (float("nan"), float("nan")))
            rss = "" if rss_mb != rss_mb else f" {rss_mb:5.0f} MB"
            cells.append(f"{wall_s:8.2f} s{rss:>9s}".rjust(26))
        target = TARGETS.get(name)
        target_text = ""
        if target:
            target_text = f"<= {target[0]:g} s" + (f", <= {target[1]:g} MB" if target[1] else "")
        print(f"{name:42s}" + "".join(cells) + "   " + target_text)


if __name__ == "__main__":
    main()
