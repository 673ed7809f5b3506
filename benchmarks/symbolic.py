"""Symbolic generator speed: `.venv/bin/python -m benchmarks.symbolic [--repeats 20]`.

Prints, for the shipped checkpoint:
- latency of 8 and 16 bar requests through a real server on loopback (p50/p99), one at a time and
  8 concurrent clients;
- decoding tokens/s of the KV-cache loop against a plain reference loop over the same model in the
  same run (the reference re-runs the whole sequence for every token), of a batch of 8 sequences
  decoded together, and of the numpy step (symbolic.stepper) the server decodes with;
- peak resident memory of the process (server + model).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import threading
import time
from pathlib import Path

import torch

from benchmarks.common import percentile
from symbolic.attributes import Attributes, Key
from symbolic.composer import Composer
from symbolic.decoding import Sampling
from symbolic.model import MusicTransformer

REQUEST = dict(instruments=[40, 32], key=Key(2, "major"), time_signature=(4, 4), tempo_bpm=120.0)


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
    """The serving path: symbolic.stepper's numpy step with the same KV-cache arithmetic, one sequence."""
    import numpy as np

    from symbolic.stepper import NumpyStepper

    stepper = NumpyStepper(model)
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


def server_latency(address: str, bars: int, repeats: int, concurrency: int) -> list[float]:
    from server.client import Client
    from server.client.composer import make_attributes

    attributes = make_attributes(instruments=["fiddle", "acoustic bass"], key="D major", time_signature="4/4",
                                 tempo_bpm=120, bars=bars)
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(worker_index: int) -> None:
        with Client(address, timeout_s=120) as client:
            for repeat in range(repeats):
                started = time.perf_counter()
                client.generate(attributes, seed=1 + worker_index * 1000 + repeat)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path(__file__).resolve().parent.parent / "symbolic" / "pretrained" / "default")
    parser.add_argument("--repeats", type=int, default=20, help="requests per measurement (single client)")
    parser.add_argument("--concurrent-repeats", type=int, default=4, help="requests per client when 8 run at once")
    parser.add_argument("--tokens", type=int, default=256, help="tokens for the tokens/s comparison")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from server.app import start_server
    from server.settings import Settings

    running = start_server(Settings(host="127.0.0.1", port=0, composer_model_dir=args.model))
    try:
        server_latency(running.address, 4, 2, 1)  # warm-up: model load, first calls
        print(f"symbolic generator benchmark ({args.model})")
        print("request: fiddle + acoustic bass, D major, 4/4, 120 bpm; latency through gRPC on loopback")
        for bars in (8, 16):
            single = server_latency(running.address, bars, args.repeats, 1)
            print(f"  {bars:2d} bars, 1 client : p50 {percentile(single, 50) * 1000:7.0f} ms   "
                  f"p99 {percentile(single, 99) * 1000:7.0f} ms   ({len(single)} requests)")
            started = time.perf_counter()
            concurrent = server_latency(running.address, bars, args.concurrent_repeats, 8)
            wall = time.perf_counter() - started
            print(f"  {bars:2d} bars, 8 clients: p50 {percentile(concurrent, 50) * 1000:7.0f} ms   "
                  f"p99 {percentile(concurrent, 99) * 1000:7.0f} ms   throughput {len(concurrent) / wall:.2f} clips/s")
    finally:
        running.stop(grace_s=1.0)

    composer = Composer.from_pretrained(args.model)
    model = MusicTransformer.from_pretrained(args.model)  # the torch form, for the reference loops below
    print("in-process (no gRPC), same request: wall time and CPU time of this thread (CPU time is what an")
    print("idle core would take; the difference is time spent waiting for a core on this shared machine)")
    for bars in (8, 16):
        walls, cpus, calls, notes = [], [], [], []
        for repeat in range(args.repeats):
            wall, cpu = time.perf_counter(), time.thread_time()
            result = composer.generate(Attributes(bars=bars, **REQUEST), Sampling(seed=100 + repeat))
            walls.append(time.perf_counter() - wall)
            cpus.append(time.thread_time() - cpu)
            calls.append(result.notes["tokens_sampled"])
            notes.append(len(result.clip.table))
        print(f"  {bars:2d} bars: wall p50 {percentile(walls, 50) * 1000:6.0f} ms, CPU p50 {percentile(cpus, 50) * 1000:6.0f} ms, "
              f"p99 {percentile(cpus, 99) * 1000:6.0f} ms; {statistics.median(calls):.0f} model calls, "
              f"{statistics.median(notes):.0f} notes per clip")
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
    print(f"  KV cache, numpy step      : {stepped:8.0f} tokens/s  ({stepped / reference:.1f}x the reference, "
          f"{stepped / cached:.1f}x torch's cached step; what the server decodes with)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process (server + two model copies): {peak_mb:.0f} MB")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"machine load average during the run: {' '.join(load)} (2 cores)")


if __name__ == "__main__":
    main()
