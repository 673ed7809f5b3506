"""Scale-out on Ray, against the plain single server in the same run (runs itself inside
../shared/tools/loopback-only; Ray must never run outside it here).

    .venv/bin/python -m benchmarks.scale [--seconds 40] [--clients 4]

1. Throughput of a CPU-bound mix (Generate 8 bars, then RenderMidi of that clip) from `--clients`
   concurrent clients: the plain server pinned to one core; a two-node cluster of one-core nodes
   (`cluster up --pin-cores`) with 1 replica per family; the same with 2 replicas per family.
2. Latency the proxy path adds: DescribeMidi p50/p99 through the front server and Serve proxy vs the
   plain server.
3. Recovery: one Composer replica killed with SIGKILL under load: failed, retried, lost calls, and the
   seconds until two replicas answer again.
The machine's load average is printed beside the figures: on a busy machine they are not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK_ONLY = ROOT.parent / "shared" / "tools" / "loopback-only"


def _reexec_inside_loopback_only() -> None:
    from server.scale.cluster import only_loopback

    if only_loopback():
        return
    if not LOOPBACK_ONLY.exists():
        raise SystemExit(f"{LOOPBACK_ONLY} is missing: Ray must run inside a loopback-only namespace")
    os.execv(str(LOOPBACK_ONLY), [str(LOOPBACK_ONLY), sys.executable, "-m", "benchmarks.scale", *sys.argv[1:]])


def mix_throughput(address: str, clients: int, seconds: float) -> dict:
    """Generate + render mixes completed per second by `clients` concurrent clients."""
    from benchmarks.common import percentile
    from server.client import Client
    from server.client.composer import make_attributes

    done: list[float] = []
    errors: list[str] = []
    stop = time.monotonic() + seconds

    def run(index: int) -> None:
        with Client(address, timeout_s=300) as client:
            seed = index * 1000
            while time.monotonic() < stop:
                started = time.monotonic()
                try:
                    clip = client.generate(make_attributes(instruments=["piano", "acoustic bass"], key="C major", bars=8), seed=seed)
                    client.render_midi(clip.midi, soundfont="TimGM6mb")
                    done.append(time.monotonic() - started)
                except Exception as error:  # noqa: BLE001 - counted
                    errors.append(type(error).__name__)
                seed += 1

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {"mixes": len(done), "per_s": len(done) / elapsed, "p50_s": percentile(done, 50), "errors": len(errors)}


def unary_latency(address: str, repeats: int) -> dict:
    from benchmarks.common import percentile, time_calls
    from server.client import Client
    from tests.conftest import make_midi

    midi = make_midi()
    with Client(address, timeout_s=60) as client:
        durations = time_calls(lambda: client.describe_midi(midi), repeats, warmup=5)
    return {"p50_ms": percentile(durations, 50) * 1000, "p99_ms": percentile(durations, 99) * 1000}


def plain_server(port: int) -> subprocess.Popen:
    process = subprocess.Popen(["taskset", "-c", "0", str(Path(sys.executable).with_name("ostinato")), "serve", "--port", str(port),
                                "--log-level", "WARNING"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    if "serving on" not in line:
        process.kill()
        raise SystemExit(f"the plain server did not start: {line!r}")
    return process


def cluster_front(port: int, replicas: int, job_store: Path) -> subprocess.Popen:
    config = Path(tempfile.mkdtemp()) / "deployments.toml"
    config.write_text(
        "".join(
            # The cores are enforced by pinning (cluster up --pin-cores); Ray's CPU accounting only places
            # replicas, and a small figure leaves room for the rolling update between the two phases.
            f"[{name}]\nmodule = 'server.services.{module}'\nreplicas = {replicas}\nnum_cpus = 0.1\n"
            f"max_replicas_per_node = 1\nmax_ongoing_requests = 8\n\n"
            for name, module in (("composer", "composer"), ("renderer", "renderer"))
        )
    )
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("ostinato")), "serve", "--ray", "127.0.0.2:6390", "--port", str(port),
         "--ray-config", str(config), "--job-store", str(job_store), "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = process.stdout.readline()
    if "serving on" not in line:
        process.kill()
        raise SystemExit(f"the front server did not start: {line!r}")
    return process


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    _reexec_inside_loopback_only()
    sys.path.insert(0, str(ROOT))
    from server.scale import cluster
    from tests.server.scale_scenario import kill_under_load, wait_healthy

    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    results: dict[str, dict] = {}
    plain = plain_server(50081)
    try:
        wait_healthy("127.0.0.1:50081")
        results["plain, one core"] = {**mix_throughput("127.0.0.1:50081", args.clients, args.seconds),
                                      **unary_latency("127.0.0.1:50081", args.repeats)}
        print("plain, one core:", json.dumps(results["plain, one core"]), flush=True)
    finally:
        stop(plain)
    cluster.up(2, cpus_per_node=1.0, pin_cores=True)
    try:
        for replicas in (1, 2):
            front = cluster_front(50082, replicas, Path(tempfile.mkdtemp()))
            try:
                wait_healthy("127.0.0.1:50082")
                name = f"Ray, 2 one-core nodes, {replicas} replica(s)"
                results[name] = {**mix_throughput("127.0.0.1:50082", args.clients, args.seconds),
                                 **unary_latency("127.0.0.1:50082", args.repeats)}
                print(f"{name}:", json.dumps(results[name]), flush=True)
                if replicas == 2:
                    results["recovery"] = kill_under_load("127.0.0.1:50082", 8)
            finally:
                stop(front)
    finally:
        cluster.down()

    base = results["plain, one core"]
    print(f"\n== generate 8 bars + render, {args.clients} clients, {args.seconds:.0f} s each")
    for name, row in results.items():
        if name == "recovery":
            continue
        print(f"{name:38s} {row['per_s']:6.2f} mixes/s ({row['per_s'] / base['per_s']:4.2f}x plain)  "
              f"mix p50 {row['p50_s']:5.2f} s  errors {row['errors']}")
    print("\n== DescribeMidi round trip (the proxy path's added latency)")
    for name, row in results.items():
        if name == "recovery":
            continue
        print(f"{name:38s} p50 {row['p50_ms']:7.2f} ms (+{row['p50_ms'] - base['p50_ms']:6.2f})  "
              f"p99 {row['p99_ms']:7.2f} ms (+{row['p99_ms'] - base['p99_ms']:6.2f})")
    print("\n== one Composer replica killed under load (8 concurrent Generate calls)")
    print(json.dumps(results["recovery"]))
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
