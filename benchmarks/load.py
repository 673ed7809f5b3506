"""Load on loopback: many clients mixing RPCs while idle followers hold session streams.

    python -m benchmarks.load                          # 64 clients + 64 idle watchers, 60 s
    python -m benchmarks.load --clients 16 --watchers 16 --duration-s 20

The server runs in its own process with the default settings (tests.fuzz.serve, TimGM6mb). Sixteen
Bridge sessions are opened and `--watchers` idle WatchSession followers spread over them; then each
client loops over a mix of calls (DescribeMidi, ParseText, RenderMidi, Vary, Generate, Continue,
health) through the Python client (with its retry policy) until the time is up, while a prober checks
health every 0.5 s. Printed: calls and errors per RPC with latency percentiles, the prober's
latencies, and the server's peak RSS. Exit status 1 on any unexpected error or failed health probe.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import threading
import time
from typing import Callable


from benchmarks.common import percentile
from server.client import Client, ServerError
from tests.fuzz.cases import seed_midis
from tests.fuzz.harness import ServerProcess

SESSIONS = 16


def _calls(client: Client) -> dict[str, Callable[[], object]]:
    midi = seed_midis()[1]
    return {
        "DescribeMidi": lambda: client.describe_midi(midi),
        "ParseText": lambda: client.parse_text("a lively jig in D major for fiddle, 8 bars"),
        "RenderMidi": lambda: client.render_midi(midi, sample_rate_hz=22_050, channels=1),
        "Vary": lambda: client.vary(midi, 1, similarity_distance=0.3),
        "Generate": lambda: client.generate(text="2 bars of piano in C major"),
        "Continue": lambda: client.continue_midi(midi, 1, continuation_only=True),
        "Health": lambda: client.health(),
    }


# The mix: cheap calls most often, model calls sometimes.
WEIGHTS = {"DescribeMidi": 6, "ParseText": 6, "Health": 4, "RenderMidi": 3, "Vary": 2, "Generate": 1, "Continue": 1}


def run(clients: int, watchers: int, duration_s: float, seed: int = 0) -> int:
    server = ServerProcess(workers=64, max_queued=256, extra=("--max-streams", "128"))
    latencies: dict[str, list[float]] = collections.defaultdict(list)
    errors: collections.Counter = collections.Counter()
    error_samples: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    peak_rss = 0

    def record(name: str, seconds: float, error: str | None = None) -> None:
        with lock:
            if error is None:
                latencies[name].append(seconds)
            else:
                errors[name] += 1
                if len(error_samples) < 10:
                    error_samples.append(f"{name}: {error}")

    try:
        control = Client(server.address, timeout_s=120)
        control.wait_ready(30)
        for name, call in _calls(control).items():  # load the models before the clock starts
            call()
        sessions = [control.open_bridge_session(f"load-{index}") for index in range(SESSIONS)]
        follower_threads = []

        def follow(session_id: str) -> None:
            with Client(server.address) as client:
                try:
                    for _ in client.watch_bridge_session(session_id):
                        if stop.is_set():
                            return
                except ServerError as error:
                    if not stop.is_set():
                        record("WatchSession", 0.0, f"{error.code.name}: {error.details}")

        for index in range(watchers):
            thread = threading.Thread(target=follow, args=(f"load-{index % SESSIONS}",), daemon=True)
            thread.start()
            follower_threads.append(thread)
        time.sleep(1.0)

        def client_loop(index: int) -> None:
            rng = random.Random(seed * 1000 + index)
            names = list(WEIGHTS)
            weights = [WEIGHTS[n] for n in names]
            with Client(server.address, timeout_s=180) as client:
                calls = _calls(client)
                while not stop.is_set():
                    name = rng.choices(names, weights)[0]
                    started = time.monotonic()
                    try:
                        calls[name]()
                        record(name, time.monotonic() - started)
                    except ServerError as error:
                        record(name, 0.0, f"{error.code.name}: {error.details}")

        def prober() -> None:
            with Client(server.address, timeout_s=5) as client:
                while not stop.wait(0.5):
                    started = time.monotonic()
                    try:
                        client.health()
                        record("probe:Health", time.monotonic() - started)
                    except ServerError as error:
                        record("probe:Health", 0.0, f"{error.code.name}: {error.details}")

        def rss_sampler() -> None:
            nonlocal peak_rss
            while not stop.wait(0.2):
                peak_rss = max(peak_rss, server.rss_bytes())

        threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(clients)]
        threads += [threading.Thread(target=prober, daemon=True), threading.Thread(target=rss_sampler, daemon=True)]
        started = time.monotonic()
        cpu_before = server.cpu_s()
        for thread in threads:
            thread.start()
        time.sleep(duration_s)
        stop.set()
        for thread in threads:
            thread.join(300)
        elapsed = time.monotonic() - started
        server_cpu = server.cpu_s() - cpu_before
        peak_rss = max(peak_rss, server.peak_rss_bytes())
        for session in sessions:
            session.close()
        control.close()
    finally:
        stop.set()
        server.stop()

    print(f"{clients} clients, {watchers} idle watchers on {SESSIONS} sessions, {elapsed:.0f} s "
          f"(server CPU {server_cpu:.0f} s)")
    print(f"{'call':<14}{'ok':>7}{'errors':>8}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name in sorted(set(latencies) | set(errors)):
        ms = [s * 1000 for s in latencies.get(name, [])]
        print(f"{name:<14}{len(ms):>7}{errors[name]:>8}{percentile(ms, 50):>10.0f}{percentile(ms, 90):>10.0f}"
              f"{percentile(ms, 99):>10.0f}{max(ms, default=float('nan')):>10.0f}")
    print(f"server peak RSS: {peak_rss / 1024 / 1024:.0f} MiB")
    for sample in error_samples:
        print(f"  error: {sample}")
    return 1 if sum(errors.values()) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--watchers", type=int, default=64)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    return run(args.clients, args.watchers, args.duration_s, args.seed)


if __name__ == "__main__":
    sys.exit(main())
