"""The scale-out scenario, run as a script INSIDE a loopback-only network namespace (Ray contacts outside
addresses on its own): a two-node Ray cluster, `ostinato serve --ray`, every service through the normal
Python client and the Node client, both replicas serving, one replica killed under load, a job fetched
again by id. Prints one JSON line of findings (the last line); tests/server/test_scale.py asserts on it,
benchmarks/scale.py reuses its pieces.

    ../shared/tools/loopback-only .venv/bin/python tests/server/scale_scenario.py [--keep-going]
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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from protos.ostinato.v1 import composer_pb2, composer_pb2_grpc  # noqa: E402
from server.scale.front import JOB_METADATA, JOB_STATE_METADATA, RETRIES_METADATA  # noqa: E402
from server.scale.replica import REPLICA_METADATA  # noqa: E402
from tests.conftest import make_midi  # noqa: E402

OSTINATO = str(Path(sys.executable).with_name("ostinato"))
CONFIG = ROOT / "tests" / "server" / "scale_deployments.toml"
HEAD = "127.0.0.2:6390"


def log(message: str) -> None:
    print(f"[scenario {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def start_front(port: int, job_store: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [OSTINATO, "serve", "--ray", HEAD, "--host", "127.0.0.1", "--port", str(port), "--ray-config", str(CONFIG),
         "--job-store", str(job_store), "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "CI": os.environ.get("CI", "")},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=420)
    if not lines or "serving on" not in lines[0]:
        process.kill()
        raise RuntimeError(f"the front server did not start: {lines!r}")
    return process


def wait_healthy(address: str, timeout_s: float = 120.0) -> float:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    started = time.monotonic()
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() - started < timeout_s:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status == health_pb2.HealthCheckResponse.SERVING:
                    return time.monotonic() - started
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    raise RuntimeError("the front server never reported SERVING")


def through_client(address: str) -> dict:
    """Every service through the normal Python client: what came back, or the status code."""
    from server.client import Client, ServerError
    from server.client.composer import make_attributes

    findings: dict[str, object] = {}
    midi = make_midi(tempo_bpm=100.0)

    def record(name: str, call) -> None:  # type: ignore[no-untyped-def]
        try:
            findings[name] = call()
        except ServerError as error:
            findings[name] = {"code": error.code.name, "details": error.details[:200]}

    with Client(address, timeout_s=120) as client:
        record("generate_bars", lambda: _bars(client.generate(make_attributes(instruments=["piano"], key="C major", bars=4), seed=3).midi))
        record("describe_pitches", lambda: list(client.describe_midi(midi).note_sequence.notes[i].pitch for i in range(8)))
        record("describe_bad", lambda: client.describe_midi(b"not midi"))
        record("render_s", lambda: round(client.render_midi(midi, soundfont="TimGM6mb").duration_s, 2))
        record("melody_sample_rate", lambda: client.generate_from_melody(midi=midi, duration_s=2.0, seed=1).sample_rate_hz)
        record("vary_count", lambda: len(client.vary(midi, 2, seed=1)))
        record("accompany", lambda: _accompany(client))
    return findings


def _bars(midi_bytes: bytes) -> int:
    import pretty_midi

    score = pretty_midi.PrettyMIDI(__import__("io").BytesIO(midi_bytes))
    return len(score.get_downbeats())


def _accompany(client) -> object:  # type: ignore[no-untyped-def]
    from protos.ostinato.v1 import accompanist_pb2, accompanist_pb2_grpc

    stub = client._stub(accompanist_pb2_grpc.AccompanistStub)
    try:
        count = sum(1 for _ in stub.Accompany(accompanist_pb2.AccompanyRequest(audio=b"not audio", part=1), timeout=60))
        return {"code": "OK", "messages": count}
    except grpc.RpcError as error:
        return {"code": error.code().name}


def node_client(address: str) -> dict:
    midi_path = Path(tempfile.mkdtemp()) / "tune.mid"
    midi_path.write_bytes(make_midi(tempo_bpm=100.0))
    result = subprocess.run(
        ["node", str(ROOT / "tests" / "node" / "client.js"), address, str(midi_path), str(ROOT / "protos" / "ostinato.binpb")],
        capture_output=True, text=True, timeout=120,
    )
    if result.returncode != 0:
        return {"error": result.stderr[-500:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def replica_tags(address: str, calls: int) -> list[str]:
    tags = []
    midi = make_midi()
    with grpc.insecure_channel(address) as channel:
        stub = composer_pb2_grpc.ComposerStub(channel)
        for _ in range(calls):
            _, call = stub.DescribeMidi.with_call(composer_pb2.DescribeMidiRequest(midi=midi), timeout=60)
            tags.append(dict(call.trailing_metadata()).get(REPLICA_METADATA, ""))
    return tags


def generate_request(bars: int, seed: int) -> composer_pb2.GenerateRequest:
    from server.client.composer import make_attributes

    return composer_pb2.GenerateRequest(attributes=make_attributes(instruments=["piano", "acoustic bass"], key="D major", bars=bars),
                                        sampling=composer_pb2.Sampling(seed=seed))


def one_generate(address: str, bars: int, seed: int, metadata: tuple = (), timeout_s: float = 180.0) -> dict:
    with grpc.insecure_channel(address) as channel:
        stub = composer_pb2_grpc.ComposerStub(channel)
        call = stub.Generate(generate_request(bars, seed), metadata=metadata, timeout=timeout_s)
        messages = []
        try:
            for response in call:
                messages.append(response.SerializeToString())
        except grpc.RpcError as error:
            trailing = dict(call.trailing_metadata() or ())
            return {"code": error.code().name, "details": (error.details() or "")[:200], "retries": int(trailing.get(RETRIES_METADATA, 0))}
        trailing = dict(call.trailing_metadata() or ())
        clip = composer_pb2.GenerateResponse.FromString(messages[-1]) if messages else None
        return {"code": "OK", "has_clip": bool(clip is not None and clip.HasField("clip") and clip.clip.midi),
                "retries": int(trailing.get(RETRIES_METADATA, 0)), "replica": trailing.get(REPLICA_METADATA, ""),
                "job": trailing.get(JOB_STATE_METADATA, ""), "last": messages[-1].hex() if messages else ""}


def kill_under_load(address: str, calls: int) -> dict:
    """`calls` concurrent Generate calls; one Composer replica killed with SIGKILL while they run."""
    tags = sorted(set(replica_tags(address, 6)))
    victim_pid = int(tags[0].rsplit(":", 1)[1])
    results: list[dict | None] = [None] * calls

    def run(index: int) -> None:
        try:
            results[index] = one_generate(address, 8, seed=100 + index)
        except Exception as error:  # noqa: BLE001 - counted as lost below
            results[index] = {"code": f"EXCEPTION {type(error).__name__}"}

    threads = [threading.Thread(target=run, args=(i,)) for i in range(calls)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    killed_at = time.monotonic()
    os.kill(victim_pid, signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=300)
    lost = sum(1 for r, t in zip(results, threads) if r is None or t.is_alive() or (r["code"] == "OK" and not r["has_clip"]))
    ok = sum(1 for r in results if r and r["code"] == "OK" and r["has_clip"])
    failed = [r for r in results if r and r["code"] != "OK"]
    retried = sum(1 for r in results if r and r.get("retries", 0) > 0)
    # Back to full strength: two distinct replicas answer again, one of them new.
    recovered_s = None
    while time.monotonic() - killed_at < 240:
        now = set(replica_tags(address, 6))
        if len(now) >= 2 and not any(tag.endswith(f":{victim_pid}") for tag in now):
            recovered_s = round(time.monotonic() - killed_at, 1)
            break
        time.sleep(1.0)
    return {"calls": calls, "ok": ok, "failed": len(failed), "failed_codes": sorted({f["code"] for f in failed}),
            "retried": retried, "lost": lost, "recovered_s": recovered_s, "replicas_before": len(tags)}


def jobs(address: str) -> dict:
    metadata = ((JOB_METADATA, f"scenario-{os.getpid()}"),)
    first = one_generate(address, 4, seed=7, metadata=metadata)
    started = time.monotonic()
    again = one_generate(address, 4, seed=7, metadata=metadata)
    return {"first_job": first.get("job"), "again_job": again.get("job"), "same_result": first.get("last") == again.get("last") != "",
            "again_s": round(time.monotonic() - started, 3)}


def deadline(address: str) -> dict:
    started = time.monotonic()
    result = one_generate(address, 32, seed=1, timeout_s=0.5)
    return {"code": result["code"], "elapsed_s": round(time.monotonic() - started, 2)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=50071)
    parser.add_argument("--calls", type=int, default=8)
    args = parser.parse_args()
    findings: dict[str, object] = {}
    front = None
    started = time.monotonic()
    try:
        subprocess.run([OSTINATO, "cluster", "up", "--nodes", "2", "--cpus-per-node", "1"], check=True, timeout=300,
                       stdout=subprocess.DEVNULL)
        findings["cluster_up_s"] = round(time.monotonic() - started, 1)
        log("cluster up")
        front = start_front(args.port, Path(tempfile.mkdtemp()) / "jobs")
        address = f"127.0.0.1:{args.port}"
        findings["serving_s"] = round(time.monotonic() - started, 1)
        findings["healthy_after_s"] = round(wait_healthy(address), 1)
        log("front serving")
        findings["client"] = through_client(address)
        log("client done")
        findings["node"] = node_client(address)
        findings["replica_tags"] = sorted(set(replica_tags(address, 12)))
        findings["deadline"] = deadline(address)
        findings["jobs"] = jobs(address)
        log("jobs done")
        findings["kill"] = kill_under_load(address, args.calls)
        log("kill done")
    except Exception as error:  # noqa: BLE001 - reported in the findings
        findings["error"] = f"{type(error).__name__}: {error}"[:1000]
    finally:
        if front is not None:
            front.send_signal(signal.SIGTERM)
            try:
                front.wait(timeout=30)
            except subprocess.TimeoutExpired:
                front.kill()
        subprocess.run([OSTINATO, "cluster", "down"], timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    findings["total_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(findings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
