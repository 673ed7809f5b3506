"""One source tree's Composer latency, measured in a process of its own (run by benchmarks.symbolic).

    .venv/bin/python benchmarks/symbolic_tree.py --tree DIR [--repeats 20] [--concurrent-repeats 4]
        [--servers composer every]

Imports `server` and `symbolic` from DIR (the working tree, or an older revision exported by
`benchmarks.symbolic --before REV`), so both trees run the same measurement with the same interpreter
and packages. Uses only what every revision of the contract offers (start_server, Client.generate,
Composer.generate). Prints one JSON object: latencies through real servers on loopback (1 client and 8
concurrent clients, 8 and 16 bars), the wall and CPU time of the same request in process, and the load
average before and after each measurement. The servers, one after the other:
- `composer`: the Composer service alone;
- `every`: every service, models preloaded, as `ostinato serve` starts by default (the Composer's
  warm-up, the latent model, the melody model and the accompanist loaded, the renderer's SoundFont
  read); measured once the SoundFont preload thread has finished (a start-up cost, not a request's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

SERVERS = ("composer", "every")  # the Composer service alone; every service, preloaded (ostinato serve)
REQUEST = dict(instruments=["fiddle", "acoustic bass"], key="D major", time_signature="4/4", tempo_bpm=120)


def _load() -> float:
    return os.getloadavg()[0]


def server_latency(address: str, bars: int, repeats: int, concurrency: int) -> list[float]:
    from server.client import Client
    from server.client.composer import make_attributes

    attributes = make_attributes(bars=bars, **REQUEST)
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


def measure_server(address: str, bars_list: list[int], repeats: int, concurrent_repeats: int) -> dict:
    """1 client, then 8 at once, for each request size; with the load average around each."""
    measured: dict = {}
    server_latency(address, 4, 2, 1)  # warm-up: model load, first calls
    for bars in bars_list:
        load = _load()
        single = server_latency(address, bars, repeats, 1)
        measured[f"{bars}x1"] = {"latency_s": single, "load": [load, _load()]}
        load = _load()
        started = time.perf_counter()
        concurrent = server_latency(address, bars, concurrent_repeats, 8)
        wall = time.perf_counter() - started
        measured[f"{bars}x8"] = {"latency_s": concurrent, "wall_s": wall, "load": [load, _load()]}
    return measured


def in_process(model_dir: Path, bars: int, repeats: int) -> dict:
    """Wall and CPU time (this thread) of Composer.generate, and its model calls and notes."""
    from symbolic.attributes import Attributes, Key
    from symbolic.composer import Composer
    from symbolic.decoding import Sampling

    composer = Composer.from_pretrained(model_dir)
    request = Attributes(instruments=[40, 32], key=Key(2, "major"), time_signature=(4, 4), tempo_bpm=120.0,
                         bars=bars)
    composer.generate(request, Sampling(seed=99))  # first call: lazy imports
    walls, cpus, calls, notes = [], [], [], []
    for repeat in range(repeats):
        wall, cpu = time.perf_counter(), time.thread_time()
        result = composer.generate(request, Sampling(seed=100 + repeat))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.thread_time() - cpu)
        calls.append(result.notes["tokens_sampled"])
        notes.append(len(result.clip.table))
    return {"wall_s": walls, "cpu_s": cpus, "model_calls": calls, "notes": notes}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--concurrent-repeats", type=int, default=4)
    parser.add_argument("--bars", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS))
    args = parser.parse_args(argv)
    tree = args.tree.resolve()
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [str(tree)] + [entry for entry in sys.path if entry not in (here, "")]

    from server.app import start_server
    from server.settings import Settings

    model_dir = tree / "symbolic" / "pretrained" / "default"
    measured: dict = {"tree": str(tree), "servers": {}}
    for kind in args.servers:
        if kind == "composer":
            running = start_server(Settings(host="127.0.0.1", port=0, composer_model_dir=model_dir), ["composer"])
        else:
            running = start_server(Settings(host="127.0.0.1", port=0, composer_model_dir=model_dir,
                                            preload_models=True))
            for thread in threading.enumerate():
                if thread.name == "soundfont-preload":
                    thread.join(timeout=120)
        try:
            measured["servers"][kind] = measure_server(running.address, args.bars, args.repeats,
                                                       args.concurrent_repeats)
        finally:
            running.stop(grace_s=1.0)
    load = _load()
    measured["in_process"] = in_process(model_dir, 8, args.repeats)
    measured["in_process"]["load"] = [load, _load()]
    print(json.dumps(measured))


if __name__ == "__main__":
    main()
