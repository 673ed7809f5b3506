"""Continuations that change key, judged by music21's key analysis (not the project's extractor):
how often a continuation from a D-major primer lands in the requested key (12 keys x 2 seeds, 8 bars).

    .venv/bin/python -m benchmarks.key_change
"""

from __future__ import annotations

from server.settings import PACKAGE_ROOT
from symbolic.attributes import Key
from symbolic.composer import Composer
from symbolic.decoding import Sampling
from symbolic.editing import SectionChange
from tests.symbolic.test_sections import music21_key, primer_in_d

TARGETS = [(0, "major"), (5, "major"), (7, "major"), (10, "major"), (4, "major"), (9, "major"),
           (9, "minor"), (4, "minor"), (11, "minor"), (2, "minor"), (7, "minor"), (0, "minor")]


def main() -> None:
    composer = Composer.from_pretrained(PACKAGE_ROOT / "symbolic" / "pretrained" / "default")
    hits = own = 0
    for tonic, mode in TARGETS:
        for seed in (1, 2):
            result = composer.continue_clip(primer_in_d(), 8, Sampling(seed=seed), continuation_only=True,
                                            change=SectionChange(key=Key(tonic, mode)))
            heard = music21_key(result.midi)
            hits += heard == (tonic, mode)
            own += result.notes["continuation_key"] == str(Key(tonic, mode))
            print(f"{Key(tonic, mode)!s:10s} seed {seed}: music21 hears {heard}, the project's extractor "
                  f"{result.notes['continuation_key']}", flush=True)
    total = 2 * len(TARGETS)
    print(f"music21: in the new key {hits}/{total}; the project's extractor: {own}/{total}")


if __name__ == "__main__":
    main()
