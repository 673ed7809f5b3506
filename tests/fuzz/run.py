"""The fuzz pass, by one command:

    python -m tests.fuzz.run --cases 30000            # the long pass
    python -m tests.fuzz.run --cases 300 --seed 1     # a quick look

Starts a server process under an address-space cap, warms its models with one valid call of each
RPC, then sends hostile cases (tests.fuzz.cases) one at a time and prints the outcomes by status code,
the server's CPU time and extra memory per call, and every INTERNAL answer, crash or call over the
bounds (2 s of CPU, 500 MiB of extra RSS for inputs under 1 MB). Exits 1 when any bound is broken.
"""

from __future__ import annotations

import argparse
import sys
import time

from hypothesis import HealthCheck, Phase, given, seed, settings

from protos.ostinato.v1 import composer_pb2, melody_pb2, renderer_pb2
from tests.fuzz.cases import Case, any_case, seed_midis, seed_wav
from tests.fuzz.harness import Runner, ServerProcess, Tally

# Address-space cap of the server process. A warmed server (torch, two models, FluidSynth) maps
# ~2.5 GB of address space, most of it never touched; the cap leaves room for the work a bounded
# request may legitimately do, and none for the gigabytes the inputs once asked for.
DEFAULT_MEMORY_CAP_MB = 6144


def warm_up(runner: Runner) -> None:
    """One valid call of each RPC, so model loading is not charged to the first hostile case."""
    midi = seed_midis()[1]
    for case in (
        Case("DescribeMidi", composer_pb2.DescribeMidiRequest(midi=midi), "warm"),
        Case("RenderMidi", renderer_pb2.RenderMidiRequest(midi=midi, sample_rate_hz=16_000, channels=1), "warm"),
        Case("Vary", composer_pb2.VaryRequest(midi=midi, num_variations=1, similarity_distance=0.3), "warm"),
        Case("Continue", composer_pb2.ContinueRequest(primer_midi=midi, bars=1, continuation_only=True), "warm"),
        Case("GenerateFromMelody", melody_pb2.GenerateFromMelodyRequest(audio=seed_wav(), duration_s=1.0), "warm"),
    ):
        outcome = runner.run(case)
        if outcome.code != "OK":
            raise RuntimeError(f"warm-up {case.rpc} failed: {outcome.code} {outcome.details}")
    runner.tally = Tally()


def fuzz(cases: int, random_seed: int = 0, memory_cap_mb: int = DEFAULT_MEMORY_CAP_MB, progress: bool = True) -> Tally:
    """Runs `cases` hostile calls against a fresh capped server; returns the tally."""
    server = ServerProcess(memory_cap_mb=memory_cap_mb)
    runner = Runner(server)
    started = time.monotonic()
    try:
        warm_up(runner)

        @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=any_case())
        def one(case: Case) -> None:
            if not server.alive():
                return
            runner.run(case)
            if progress and runner.tally.cases % 250 == 0:
                print(f"  {runner.tally.cases} cases, {time.monotonic() - started:.0f} s: "
                      + ", ".join(f"{code} {n}" for code, n in runner.tally.by_code.most_common()), file=sys.stderr)

        seed(random_seed)(one)()
        tally = runner.tally
    finally:
        runner.close()
        server.stop()
    if tally.internal or tally.crashes:
        print(f"server log tail ({server.log_path}):\n{server.log_tail()}", file=sys.stderr)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-cap-mb", type=int, default=DEFAULT_MEMORY_CAP_MB)
    args = parser.parse_args(argv)
    started = time.monotonic()
    tally = fuzz(args.cases, args.seed, args.memory_cap_mb)
    print(tally.report())
    print(f"wall time: {time.monotonic() - started:.0f} s")
    broken = tally.internal or tally.crashes or tally.over_cpu or tally.over_memory
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
