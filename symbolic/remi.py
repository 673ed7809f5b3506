"""The Composer's REMI tokens on the serving path, without miditok.

miditok imports torch (its package imports its PyTorch datasets), and miditok builds its vocabulary from
the tokenizer config at load time. Generating needs two things from it: the token names by id and the
decoding of tokens into notes. Both are here: the names are stored beside the model
(`vocabulary.json`, written by `save_vocabulary` when the model is trained, checked against miditok by
tests/symbolic/test_remi.py), and `RemiTokenizer.decode` reads tokens into a symusic Score the way
miditok's REMI does for the configuration symbolic.tokenizer.build_tokenizer makes (one stream for all
programs, time signatures, drum pitches, no velocities, no tempos or rests). Encoding a MIDI file into
tokens (continue, infill) still goes through miditok, loaded on the first call.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import symusic

from symbolic.tokenizer import TOKENIZER_FILE, condition_token_names, load_tokenizer

if TYPE_CHECKING:
    from miditok import REMI

VOCABULARY_FILE = "vocabulary.json"
DEFAULT_VELOCITY = 100  # what miditok gives notes when the tokens hold no velocity
DEFAULT_TEMPO_BPM = 120.0
DEFAULT_TIME_SIGNATURE = (4, 4)
# The tokenizer settings decode() is written for; a tokenizer made otherwise is left to miditok.
_DECODABLE = {"use_velocities": False, "one_token_stream_for_programs": True, "use_programs": True,
              "program_changes": False, "use_rests": False, "use_tempos": False, "use_chords": False,
              "use_key_signatures": False, "use_sustain_pedals": False, "use_pitch_bends": False,
              "use_control_changes": False, "use_pitch_intervals": False, "use_time_signatures": True}


def save_vocabulary(tokenizer: REMI, directory: Path) -> None:
    """Writes what decode() needs beside the tokenizer (ValueError for a tokenizer it cannot read)."""
    config = tokenizer.config
    wrong = {name: getattr(config, name) for name, value in _DECODABLE.items() if getattr(config, name) != value}
    if wrong or set(config.use_note_duration_programs) != set(config.programs):
        raise ValueError(f"decode() does not read tokens made with {wrong or 'notes without durations'}")
    names = [name for name, _ in sorted(tokenizer.vocab.items(), key=lambda item: item[1])]
    payload = {
        "tokens": names,
        "ticks_per_quarter": int(tokenizer.time_division),
        "ticks_per_beat": {str(denominator): int(ticks) for denominator, ticks in tokenizer._tpb_per_ts.items()},
        "positions_per_beat": int(config.max_num_pos_per_beat),
        "pitch_range": [int(config.pitch_range[0]), int(config.pitch_range[1])],
    }
    (Path(directory) / VOCABULARY_FILE).write_text(json.dumps(payload, indent=1))


def load_serving_tokenizer(directory: Path) -> "RemiTokenizer | REMI":
    """The model's tokenizer: RemiTokenizer when its vocabulary is stored beside it, else miditok's."""
    directory = Path(directory)
    if (directory / VOCABULARY_FILE).exists():
        return RemiTokenizer.load(directory)
    return load_tokenizer(directory)


class RemiTokenizer:
    """Token names by id and decoding in our own code; encoding through miditok, loaded on first use."""

    def __init__(self, directory: Path, names: list[str], ticks_per_quarter: int, ticks_per_beat: dict[int, int],
                 positions_per_beat: int, pitch_range: tuple[int, int]) -> None:
        self.directory = Path(directory)
        self.names = list(names)
        self.vocab = {name: index for index, name in enumerate(self.names)}
        self.ticks_per_quarter = ticks_per_quarter
        self.ticks_per_beat = dict(ticks_per_beat)
        self.positions_per_beat = positions_per_beat
        self.pitch_range = pitch_range
        self._miditok: REMI | None = None
        self._miditok_lock = threading.Lock()
        missing = [name for name in condition_token_names() if name not in self.vocab]
        if missing:
            raise ValueError(f"{directory} holds a vocabulary without our condition tokens: {missing[:3]}")

    @classmethod
    def load(cls, directory: Path) -> "RemiTokenizer":
        directory = Path(directory)
        if not (directory / TOKENIZER_FILE).exists():
            raise FileNotFoundError(directory / TOKENIZER_FILE)
        payload = json.loads((directory / VOCABULARY_FILE).read_text())
        return cls(directory, payload["tokens"], int(payload["ticks_per_quarter"]),
                   {int(denominator): int(ticks) for denominator, ticks in payload["ticks_per_beat"].items()},
                   int(payload["positions_per_beat"]), tuple(payload["pitch_range"]))

    def __len__(self) -> int:
        return len(self.names)

    @property
    def miditok(self) -> REMI:
        """miditok's tokenizer of the same directory (loads torch: only continue and infill need it)."""
        with self._miditok_lock:
            if self._miditok is None:
                self._miditok = load_tokenizer(self.directory)
            return self._miditok

    def encode(self, score: symusic.Score):  # type: ignore[no-untyped-def]
        """miditok's encoding of a Score (a TokSequence; `.ids` are this vocabulary's ids)."""
        return self.miditok.encode(score)

    def decode(self, ids: list[int]) -> symusic.Score:
        """The notes of a token sequence as a Score, one track per program in order of appearance."""
        tokens = [self.names[int(index)].split("_") for index in ids]
        score = symusic.Score(self.ticks_per_quarter)
        time_signature = _first_time_signature(tokens)
        score.time_signatures.append(symusic.TimeSignature(*time_signature))
        tracks: dict[int, symusic.Track] = {}
        ticks_per_bar, ticks_per_position, ticks_per_beat = self._bar_units(time_signature)
        tick = bar_tick = 0
        bar = -1
        program = 0
        low, high = self.pitch_range
        for index, (kind, value) in enumerate(tokens):
            if kind == "Bar" and value == "None":
                bar += 1
                if bar > 0:
                    tick = bar_tick + ticks_per_bar
                bar_tick = tick
            elif kind == "Position":
                bar = max(bar, 0)
                tick = bar_tick + int(value) * ticks_per_position
            elif kind in ("Pitch", "PitchDrum"):
                pitch = int(value)
                if not low <= pitch <= high or index + 1 >= len(tokens) or tokens[index + 1][0] != "Duration":
                    continue
                if program not in tracks:
                    tracks[program] = symusic.Track("Drums" if program == -1 else "", 0 if program == -1 else program,
                                                    program == -1)
                duration = _duration_ticks(tokens[index + 1][1], ticks_per_beat)
                tracks[program].notes.append(symusic.Note(tick, duration, pitch, DEFAULT_VELOCITY))
            elif kind == "Program":
                program = int(value)
            elif kind == "TimeSig":
                numerator, denominator = (int(part) for part in value.split("/"))
                if (numerator, denominator) != time_signature[1:]:
                    time_signature = (tick, numerator, denominator)
                    score.time_signatures.append(symusic.TimeSignature(tick, numerator, denominator))
                    ticks_per_bar, ticks_per_position, ticks_per_beat = self._bar_units(time_signature)
        score.tracks = list(tracks.values())
        score.tempos.append(symusic.Tempo(0, DEFAULT_TEMPO_BPM))
        return score

    def _bar_units(self, time_signature: tuple[int, int, int]) -> tuple[int, int, int]:
        """(ticks per bar, ticks per Position step, ticks per beat) in a meter."""
        _, numerator, denominator = time_signature
        ticks_per_beat = self.ticks_per_beat[denominator]
        return ticks_per_beat * numerator, ticks_per_beat // self.positions_per_beat, ticks_per_beat


def _first_time_signature(tokens: list[list[str]]) -> tuple[int, int, int]:
    """(tick 0, numerator, denominator) of the first TimeSig before any note; 4/4 when there is none."""
    for kind, value in tokens:
        if kind == "TimeSig":
            numerator, denominator = (int(part) for part in value.split("/"))
            return (0, numerator, denominator)
        if kind in ("Pitch", "PitchDrum", "Velocity", "Duration"):
            break
    return (0, *DEFAULT_TIME_SIGNATURE)


def _duration_ticks(value: str, ticks_per_beat: int) -> int:
    """A Duration token's value (beats.positions.resolution) in ticks."""
    beats, positions, resolution = (int(part) for part in value.split("."))
    return (beats * resolution + positions) * ticks_per_beat // resolution


__all__ = ["VOCABULARY_FILE", "RemiTokenizer", "load_serving_tokenizer", "save_vocabulary"]
