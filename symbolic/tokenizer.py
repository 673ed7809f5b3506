"""miditok REMI (programs in one stream, no velocities) plus our attribute-prefix tokens.

A sequence reads: BOS, the condition prefix (style, time signature, key, tempo level, bars, range
level, density level, polyphony level, the programs, CondEnd), then REMI bars
(Bar TimeSig Position Program Pitch Duration ...), then EOS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from symbolic.attributes import (
    DENSITY_EDGES_ONSETS_PER_QUARTER,
    DRUM_PROGRAM,
    MAX_BARS_TOKEN,
    MODES,
    POLYPHONY_EDGES,
    RANGE_EDGES_OCTAVES,
    STYLES,
    TEMPO_EDGES_BPM,
    TIME_SIGNATURES,
)

if TYPE_CHECKING:
    from miditok import REMI

TOKENIZER_FILE = "tokenizer.json"
PITCH_RANGE = (21, 109)


def _time_signature_range() -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = {}
    for numerator, denominator in TIME_SIGNATURES:
        grouped.setdefault(denominator, []).append(numerator)
    return {denominator: sorted(numerators) for denominator, numerators in grouped.items()}


def condition_token_names() -> list[str]:
    names = [f"Style_{style.replace(' ', '-')}" for style in STYLES]
    names += [f"Key_{tonic}-{mode}" for mode in MODES for tonic in range(12)]
    names += [f"CondTempo_{level}" for level in range(len(TEMPO_EDGES_BPM) + 1)]
    names += [f"CondBars_{bars}" for bars in range(1, MAX_BARS_TOKEN + 1)] + ["CondBars_more"]
    names += [f"CondRange_{level}" for level in range(len(RANGE_EDGES_OCTAVES) + 1)]
    names += [f"CondDensity_{level}" for level in range(len(DENSITY_EDGES_ONSETS_PER_QUARTER) + 1)]
    names += [f"CondPoly_{level}" for level in range(len(POLYPHONY_EDGES) + 1)]
    names += ["CondEnd_None"]
    return names


def build_tokenizer() -> REMI:
    from miditok import REMI, TokenizerConfig  # miditok imports torch: load it with a model, not before

    config = TokenizerConfig(
        pitch_range=PITCH_RANGE,
        beat_res={(0, 4): 4, (4, 8): 2},
        use_velocities=False,
        use_programs=True,
        one_token_stream_for_programs=True,
        program_changes=False,
        use_time_signatures=True,
        use_tempos=False,
        use_pitchdrum_tokens=True,
        time_signature_range=_time_signature_range(),
        # Condition tokens are declared as special tokens in the config (rather than added with
        # add_to_vocab afterwards) so their ids are identical after a save/load round trip.
        special_tokens=["PAD", "BOS", "EOS", *condition_token_names()],
    )
    return REMI(config)


def load_tokenizer(directory: Path) -> REMI:
    from miditok import REMI

    tokenizer = REMI(params=Path(directory) / TOKENIZER_FILE)
    missing = [name for name in condition_token_names() if name not in tokenizer.vocab]
    if missing:
        raise ValueError(f"{directory} holds a tokenizer without our condition tokens: {missing[:3]}")
    return tokenizer


def _value_ids(vocab: dict[str, int], prefix: str, parse) -> dict:
    out = {}
    for name, index in vocab.items():
        if name.startswith(prefix):
            out[parse(name[len(prefix):])] = index
    return out


def _duration_quarters(text: str, time_signature_denominator: int) -> float:
    beats, ticks, resolution = (int(part) for part in text.split("."))
    return (beats + ticks / resolution) * 4.0 / time_signature_denominator


@dataclass
class Vocabulary:
    """Token ids by meaning: what constrained decoding and data building need."""

    size: int
    pad: int
    bos: int
    eos: int
    bar: int
    cond_end: int
    time_signature: dict[tuple[int, int], int]
    position: dict[int, int]
    program: dict[int, int]
    pitch: dict[int, int]
    pitch_drum: dict[int, int]
    duration: dict[str, int]
    style: dict[str, int]
    key: dict[tuple[int, str], int]
    tempo_level: dict[int, int]
    bars: dict[int, int]  # 0 stands for "more"
    range_level: dict[int, int]
    density_level: dict[int, int]
    polyphony_level: dict[int, int]

    @classmethod
    def of(cls, tokenizer: REMI) -> "Vocabulary":
        vocab = tokenizer.vocab

        def time_signature(text: str) -> tuple[int, int]:
            numerator, denominator = text.split("/")
            return int(numerator), int(denominator)

        bars = _value_ids(vocab, "CondBars_", lambda t: 0 if t == "more" else int(t))
        keys = {}
        for name, index in vocab.items():
            if name.startswith("Key_"):
                tonic, mode = name[len("Key_"):].split("-")
                keys[(int(tonic), mode)] = index
        return cls(
            size=len(vocab),
            pad=vocab["PAD_None"],
            bos=vocab["BOS_None"],
            eos=vocab["EOS_None"],
            bar=vocab["Bar_None"],
            cond_end=vocab["CondEnd_None"],
            time_signature=_value_ids(vocab, "TimeSig_", time_signature),
            position=_value_ids(vocab, "Position_", int),
            program=_value_ids(vocab, "Program_", int),
            pitch=_value_ids(vocab, "Pitch_", int),
            pitch_drum=_value_ids(vocab, "PitchDrum_", int),
            duration=_value_ids(vocab, "Duration_", str),
            style=_value_ids(vocab, "Style_", lambda t: t.replace("-", " ")),
            key=keys,
            tempo_level=_value_ids(vocab, "CondTempo_", int),
            bars=bars,
            range_level=_value_ids(vocab, "CondRange_", int),
            density_level=_value_ids(vocab, "CondDensity_", int),
            polyphony_level=_value_ids(vocab, "CondPoly_", int),
        )

    def ids(self, group: dict) -> np.ndarray:
        return np.array(sorted(group.values()), dtype=np.int64)

    def bars_token(self, bars: int) -> int:
        return self.bars[bars] if bars <= MAX_BARS_TOKEN else self.bars[0]

    def pitch_shift_table(self, semitones: int) -> np.ndarray | None:
        """A lookup table moving every pitched Pitch token by `semitones`; None if out of range."""
        table = np.arange(self.size, dtype=np.int64)
        for pitch, index in self.pitch.items():
            target = pitch + semitones
            if target in self.pitch:
                table[index] = self.pitch[target]
            else:
                table[index] = -1
        return table

    def duration_quarters(self, denominator: int) -> dict[int, float]:
        return {index: _duration_quarters(text, denominator) for text, index in self.duration.items()}


def positions_per_bar(time_signature: tuple[int, int]) -> int:
    """REMI Position tokens in one bar: four per beat of the time signature's denominator."""
    return time_signature[0] * 4


def program_order(programs) -> list[int]:
    """The order programs appear in a prefix: ascending, drums last."""
    return sorted(set(int(p) for p in programs), key=lambda p: (p == DRUM_PROGRAM, p))
