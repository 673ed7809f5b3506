"""The CI-sized fuzz pass: hostile cases against a real server process under a memory cap, over a
real socket. The long pass is `python -m tests.fuzz.run --cases 30000`."""

from __future__ import annotations

import os

from tests.fuzz.run import fuzz

CI_CASES = int(os.environ.get("OSTINATO_FUZZ_CASES", "2000"))


def test_hostile_calls_cost_the_server_nothing() -> None:
    tally = fuzz(CI_CASES, random_seed=20261130, progress=False)
    print(tally.report())
    assert tally.cases >= CI_CASES * 0.95
    assert tally.crashes == 0
    assert not tally.internal, tally.report()
    assert not tally.over_cpu, tally.report()
    assert not tally.over_memory, tally.report()
    # the attacks were refused, not waved through: most hostile MIDI ends in a refusal
    refused = tally.by_attack_code[("midi", "INVALID_ARGUMENT")] + tally.by_attack_code[("midi", "RESOURCE_EXHAUSTED")]
    assert refused > 0.5 * sum(n for (attack, _), n in tally.by_attack_code.items() if attack == "midi")
