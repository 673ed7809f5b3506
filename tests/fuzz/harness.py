"""Runs fuzz cases against a real server process over a real socket and measures what each cost.

The server runs in a subprocess (tests.fuzz.serve) under an address-space cap (RLIMIT_AS). Calls are
made one at a time, so the server's CPU time (from /proc/PID/stat) and resident memory (sampled from
/proc/PID/statm every few milliseconds) that rise during a call are that call's.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import grpc

from protos.ostinato.v1 import composer_pb2_grpc, melody_pb2_grpc, renderer_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
MAX_CALL_CPU_S = 2.0
MAX_CALL_EXTRA_BYTES = 500 * 1024 * 1024
CALL_TIMEOUT_S = 30.0


class ServerProcess:
    """`python -m tests.fuzz.serve` in a subprocess; `address` once it listens."""

    def __init__(self, memory_cap_mb: int = 0, workers: int = 8, max_queued: int = 64, extra: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> None:
        command = [sys.executable, "-m", "tests.fuzz.serve", "--memory-cap-mb", str(memory_cap_mb),
                   "--workers", str(workers), "--max-queued", str(max_queued), *extra]
        environment = {**os.environ, "MALLOC_ARENA_MAX": "2", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"ostinato-fuzz-server-{os.getpid()}-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=self._log, text=True, env=environment)
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("port "):
            self.process.kill()
            raise RuntimeError(f"the fuzz server did not start: {line!r}; log: {self.log_path.read_text()[-2000:]}")
        self.port = int(line.split()[1])
        self.address = f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS_PER_S

    def rss_bytes(self) -> int:
        return int(Path(f"/proc/{self.pid}/statm").read_text().split()[1]) * PAGE_BYTES

    def peak_rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self, timeout_s: float = 20.0) -> int:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text()[-chars:]


class RssSampler:
    """Samples a process's RSS every `interval_s` and keeps the maximum since the last reset."""

    def __init__(self, server: ServerProcess, interval_s: float = 0.005) -> None:
        self._server = server
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.maximum = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def reset(self) -> int:
        self.maximum = current = self._server.rss_bytes()
        return current

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.maximum = max(self.maximum, self._server.rss_bytes())
            except (OSError, ValueError, IndexError):
                return

    def close(self) -> None:
        self._stop.set()


def _stubs(channel: grpc.Channel) -> dict[str, Callable[..., Any]]:
    composer = composer_pb2_grpc.ComposerStub(channel)
    renderer = renderer_pb2_grpc.RendererStub(channel)
    melody = melody_pb2_grpc.MelodyGeneratorStub(channel)
    return {
        "DescribeMidi": composer.DescribeMidi, "ParseText": composer.ParseText, "Generate": composer.Generate,
        "Continue": composer.Continue, "Infill": composer.Infill, "Vary": composer.Vary,
        "Interpolate": composer.Interpolate, "Drumify": composer.Drumify, "Groove": composer.Groove,
        "RenderMidi": renderer.RenderMidi,
        "GenerateFromMelody": melody.GenerateFromMelody,
    }


UNARY = {"DescribeMidi", "ParseText"}


@dataclass
class Outcome:
    rpc: str
    attack: str
    code: str
    details: str
    cpu_s: float
    extra_bytes: int
    input_bytes: int
    wall_s: float


@dataclass
class Tally:
    """Outcomes of a run, by status code, with the ones that break the acceptance bounds."""

    by_code: collections.Counter = field(default_factory=collections.Counter)
    by_rpc_code: collections.Counter = field(default_factory=collections.Counter)
    by_attack_code: collections.Counter = field(default_factory=collections.Counter)
    internal: list[Outcome] = field(default_factory=list)
    over_cpu: list[Outcome] = field(default_factory=list)
    over_memory: list[Outcome] = field(default_factory=list)
    crashes: int = 0
    cases: int = 0
    max_cpu_s: float = 0.0
    max_extra_bytes: int = 0
    costliest: list[Outcome] = field(default_factory=list)  # the five calls with the most server CPU

    def add(self, outcome: Outcome) -> None:
        self.cases += 1
        self.by_code[outcome.code] += 1
        self.by_rpc_code[(outcome.rpc, outcome.code)] += 1
        self.by_attack_code[(outcome.attack.split("/")[0], outcome.code)] += 1
        self.max_cpu_s = max(self.max_cpu_s, outcome.cpu_s)
        self.max_extra_bytes = max(self.max_extra_bytes, outcome.extra_bytes)
        self.costliest = sorted([*self.costliest, outcome], key=lambda o: -o.cpu_s)[:5]
        if outcome.code in ("INTERNAL", "UNKNOWN", "CRASH"):
            self.internal.append(outcome)
        if outcome.input_bytes < 1024 * 1024:
            if outcome.cpu_s > MAX_CALL_CPU_S:
                self.over_cpu.append(outcome)
            if outcome.extra_bytes > MAX_CALL_EXTRA_BYTES:
                self.over_memory.append(outcome)

    def report(self) -> str:
        lines = [f"cases: {self.cases}   server crashes: {self.crashes}",
                 "by status: " + ", ".join(f"{code} {n}" for code, n in self.by_code.most_common()),
                 f"max server CPU per call: {self.max_cpu_s:.2f} s   max extra RSS per call: "
                 f"{self.max_extra_bytes / 1024 / 1024:.0f} MiB",
                 f"INTERNAL/UNKNOWN: {len(self.internal)}   over {MAX_CALL_CPU_S:g} s CPU: {len(self.over_cpu)}   "
                 f"over {MAX_CALL_EXTRA_BYTES // 1024 // 1024} MiB: {len(self.over_memory)}",
                 "by RPC:"]
        rpcs = sorted({rpc for rpc, _ in self.by_rpc_code})
        for rpc in rpcs:
            codes = ", ".join(f"{code} {n}" for (r, code), n in sorted(self.by_rpc_code.items()) if r == rpc)
            lines.append(f"  {rpc}: {codes}")
        for outcome in self.costliest:
            lines.append(f"  costliest: {outcome.rpc} {outcome.attack} -> {outcome.code} cpu {outcome.cpu_s:.2f} s "
                         f"+{outcome.extra_bytes / 1024 / 1024:.0f} MiB, {outcome.input_bytes:,} bytes in")
        for title, items in (("INTERNAL", self.internal), ("over CPU", self.over_cpu), ("over memory", self.over_memory)):
            for outcome in items[:10]:
                lines.append(f"  {title}: {outcome.rpc} {outcome.attack} -> {outcome.code} cpu {outcome.cpu_s:.2f} s "
                             f"+{outcome.extra_bytes / 1024 / 1024:.0f} MiB: {outcome.details[:200]}")
        return "\n".join(lines)


class Runner:
    """Calls cases one at a time against `server` and tallies the outcomes."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.channel = grpc.insecure_channel(server.address, options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024), ("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.calls = _stubs(self.channel)
        self.sampler = RssSampler(server)
        self.tally = Tally()

    def run(self, case: Any) -> Outcome:
        before_rss = self.sampler.reset()
        before_cpu = self.server.cpu_s()
        started = time.monotonic()
        code, details = "OK", ""
        try:
            method = self.calls[case.rpc]
            if case.rpc in UNARY:
                method(case.request, timeout=CALL_TIMEOUT_S)
            else:
                for _ in method(case.request, timeout=CALL_TIMEOUT_S):
                    pass
        except grpc.RpcError as error:
            code, details = error.code().name, error.details() or ""
        wall_s = time.monotonic() - started
        if not self.server.alive():
            self.tally.crashes += 1
            code, details = "CRASH", f"the server exited with {self.server.process.returncode}"
            outcome = Outcome(case.rpc, case.attack, code, details, 0.0, 0, case.input_bytes, wall_s)
        else:
            time.sleep(0.01)  # let the sampler see the call's last allocations
            outcome = Outcome(case.rpc, case.attack, code, details, self.server.cpu_s() - before_cpu,
                              max(0, self.sampler.maximum - before_rss), case.input_bytes, wall_s)
        self.tally.add(outcome)
        return outcome

    def close(self) -> None:
        self.sampler.close()
        self.channel.close()
