"""Symbolic generator speed: `.venv/bin/python -m benchmarks.symbolic [--repeats 20] [--before REV]
[--servers composer every] [--latency-only]`.

Prints, for the shipped checkpoint:
- latency of 8 and 16 bar requests through real servers on loopback (p50/p99), one at a time and
  8 concurrent clients (throughput in clips/s), each beside the machine's load average: a server with
  the Composer service alone, and one with every service preloaded as `ostinato serve` runs
  (`--servers composer every`, the default);
- the wall and CPU time of the same 8-bar request in process (CPU time is what an idle core would
  take; the difference is time spent waiting for a core on this shared machine);
- with `--before REV`, the same measurements of that git revision's tree (exported with `git archive`,
  same interpreter and packages), in the same run: the baseline; each tree is measured in a process of
  its own (benchmarks/symbolic_tree.py), the older one first;
- decoding tokens/s of the KV-cache loop against a plain reference loop over the same model in the
  same run (the reference re-runs the whole sequence for every token), of a batch of 8 sequences
  decoded together, and of the step (symbolic.stepper) the server decodes with;
- peak resident memory of this process (the models of the tokens/s comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import percentile
from benchmarks.startup import export_tree
from symbolic.composer import Composer
from symbolic.model import MusicTransformer

ROOT = Path(__file__).resolve().parent.parent


def reference_tokens_per_s(model, prefix: list[int], tokens: int, generator: torch.Generator) -> float:
    """No cache: the whole sequence goes through the model for every new token."""
    ids = list(prefix)
    started = time.perf_counter()
    with torch.inference_mode():
        for _ in range(tokens):
            logits = model(torch.tensor([ids]))[0, -1]
            ids.append(int(torch.multinomial(torch.softmax(logits, 0), 1, generator=generator)))
    return tokens / (time.perf_counter() - started)


def cached_tokens_per_s(model, prefix: list[int], tokens: int, generator: torch.Generator, batch: int = 1) -> float:
    """KV cache (MusicTransformer.generate): one new token per step for each of `batch` sequences."""
    started = time.perf_counter()
    out = model.generate(torch.tensor([prefix] * batch), tokens, generator=generator)
    return batch * (out.shape[1] - len(prefix)) / (time.perf_counter() - started)


def stepper_tokens_per_s(model, prefix: list[int], tokens: int, seed: int = 0) -> float:
    """The serving path: symbolic.stepper (the compiled single-token step over float16 matrices), one
    sequence."""
    import numpy as np

    from symbolic.stepper import NumpyStepper

    stepper = NumpyStepper(model, half_weights=True)  # as symbolic.decoding serves it
    stepper.step(stepper.new_cache(), prefix + [prefix[-1]])  # loads the compiled step before the clock starts
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    cache = stepper.new_cache()
    logits = stepper.step(cache, prefix)
    for _ in range(tokens):
        weights = np.exp(logits - logits.max())
        cumulative = np.cumsum(weights)
        token = min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1])), len(weights) - 1)
        logits = stepper.step(cache, [token])
    return tokens / (time.perf_counter() - started)


def measure_tree(tree: Path, repeats: int, concurrent_repeats: int, bars: list[int], servers: list[str]) -> dict:
    """benchmarks/symbolic_tree.py on one tree, in a process of its own."""
    command = [sys.executable, str(ROOT / "benchmarks" / "symbolic_tree.py"), "--tree", str(tree),
               "--repeats", str(repeats), "--concurrent-repeats", str(concurrent_repeats),
               "--bars", *map(str, bars), "--servers", *servers]
    process = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=False)
    if process.returncode != 0:
        raise RuntimeError(f"measuring {tree} failed:\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def _load_text(pair: list[float]) -> str:
    return f"load {pair[0]:.2f}->{pair[1]:.2f}"


SERVER_LABELS = {"composer": "server with the Composer service only",
                 "every": "server with every service, preloaded (as ostinato serve)"}


def print_tree(label: str, measured: dict, bars: list[int]) -> None:
    print(f"{label}:")
    for kind, rows in measured["servers"].items():
        print(f"  {SERVER_LABELS[kind]}:")
        for size in bars:
            single = rows[f"{size}x1"]
            latencies = single["latency_s"]
            print(f"    {size:2d} bars, 1 client : p50 {percentile(latencies, 50) * 1000:6.0f} ms   "
                  f"p99 {percentile(latencies, 99) * 1000:6.0f} ms   ({len(latencies)} requests; "
                  f"{_load_text(single['load'])})")
            many = rows[f"{size}x8"]
            latencies = many["latency_s"]
            print(f"    {size:2d} bars, 8 clients: p50 {percentile(latencies, 50) * 1000:6.0f} ms   "
                  f"p99 {percentile(latencies, 99) * 1000:6.0f} ms   throughput "
                  f"{len(latencies) / many['wall_s']:.2f} clips/s   ({len(latencies)} requests; "
                  f"{_load_text(many['load'])})")
    local = measured["in_process"]
    print(f"   8 bars in process: wall p50 {percentile(local['wall_s'], 50) * 1000:6.0f} ms, CPU p50 "
          f"{percentile(local['cpu_s'], 50) * 1000:6.0f} ms, p99 {percentile(local['cpu_s'], 99) * 1000:6.0f} ms; "
          f"{statistics.median(local['model_calls']):.0f} model calls, {statistics.median(local['notes']):.0f} "
          f"notes per clip ({_load_text(local['load'])})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "symbolic" / "pretrained" / "default",
                        help="checkpoint of the tokens/s comparison (the latency runs use each tree's own)")
    parser.add_argument("--repeats", type=int, default=20, help="requests per measurement (single client)")
    parser.add_argument("--concurrent-repeats", type=int, default=4, help="requests per client when 8 run at once")
    parser.add_argument("--bars", type=int, nargs="+", default=[8, 16], help="request sizes through the server")
    parser.add_argument("--servers", nargs="+", choices=("composer", "every"), default=["composer", "every"],
                        help="the servers measured: the Composer service alone, every service preloaded")
    parser.add_argument("--latency-only", action="store_true", help="skip the tokens/s comparison")
    parser.add_argument("--before", metavar="REV", help="also measure the tree of this git revision (the baseline)")
    parser.add_argument("--tokens", type=int, default=256, help="tokens for the tokens/s comparison")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    print("symbolic generator benchmark: fiddle + acoustic bass, D major, 4/4, 120 bpm; latency through gRPC "
          "on loopback, server and clients in one process; load = 1-minute load average before->after, 2 cores")
    trees: dict[str, Path] = {}
    scratch = Path(tempfile.mkdtemp(prefix="ostinato-before-"))
    try:
        if args.before:
            trees[f"before ({args.before})"] = export_tree(args.before, scratch)
        trees["now"] = ROOT
        for label, tree in trees.items():
            measured = measure_tree(tree, args.repeats, args.concurrent_repeats, args.bars, args.servers)
            print_tree(label, measured, args.bars)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.latency_only:
        return

    composer = Composer.from_pretrained(args.model)
    model = MusicTransformer.from_pretrained(args.model)  # the torch form, for the reference loops below
    prefix = [composer.vocab.bos, composer.vocab.style["folk"]]
    tokens = min(args.tokens, model.config.max_seq_len - len(prefix))
    generator = torch.Generator().manual_seed(0)
    reference = reference_tokens_per_s(model, prefix, tokens, generator)
    cached = cached_tokens_per_s(model, prefix, tokens, generator)
    batched = cached_tokens_per_s(model, prefix, tokens, generator, batch=8)
    stepped = stepper_tokens_per_s(model, prefix, tokens)
    print(f"decoding {tokens} tokens, {model.num_parameters() / 1e6:.2f} M parameters, 1 thread:")
    print(f"  reference loop (no cache) : {reference:8.0f} tokens/s")
    print(f"  KV cache                  : {cached:8.0f} tokens/s  ({cached / reference:.1f}x the reference)")
    print(f"  KV cache, batch of 8      : {batched:8.0f} tokens/s  ({batched / reference:.1f}x the reference)")
    print(f"  KV cache, served step     : {stepped:8.0f} tokens/s  ({stepped / reference:.1f}x the reference, "
          f"{stepped / cached:.1f}x torch's cached step; what the server decodes with)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process (two model copies): {peak_mb:.0f} MB")
    load = os.getloadavg()
    print(f"machine load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores)")


if __name__ == "__main__":
    main()
