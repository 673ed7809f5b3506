"""The drum grid that the latent drum model reads and writes, and its conversion to and from MIDI files.

As in MusicVAE's drum models, a drum kit is reduced to 9 pieces (kick, snare, closed hi-hat, open hi-hat,
low, mid and high tom, crash, ride); every General MIDI percussion key (and the Roland TD-11 keys of the
Groove MIDI Dataset) belongs to one of them. A sixteenth-note step holds the set of pieces struck there,
one of 2^9 = 512 classes (bit k set = piece k struck; 0 = silence), so a clip of a given meter and length
is always the same number of tokens, like the melody grid (representation.py), and shares its metric
features.

What a file loses on the way in is said (read_drum_clip returns Notices):
- Pitched tracks: left out (the drum model reads the drums; the trio model reads melody, bass and drums).
- Drum keys: each is written back as its piece's key (a side stick comes back as a snare, a pedal hi-hat
  as a closed hi-hat); keys outside the map (e.g. a whistle) are dropped.
- Velocities and micro-timing: every onset moves to the nearest sixteenth and is written back at one
  velocity per piece.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ostinato.errors import InvalidInput
from symbolic.latent.representation import (DEFAULT_TEMPO_BPM, MAX_CLIP_BARS, GridClip, STEPS_PER_QUARTER, Notice, OpenedMidi,
                                            TimeSignature, midi_bytes, new_midi, open_midi)

NUM_DRUM_PIECES = 9
NUM_DRUM_CLASSES = 1 << NUM_DRUM_PIECES  # 512
DRUM_CHANNEL = 9  # MIDI channel 10, zero-based
PIECE_NAMES = ("kick", "snare", "closed hi-hat", "open hi-hat", "low tom", "mid tom", "high tom", "crash", "ride")
# The key each piece is written as, and its velocity.
PIECE_KEYS = (36, 38, 42, 46, 45, 48, 50, 49, 51)
PIECE_VELOCITIES = (100, 96, 80, 84, 92, 92, 92, 100, 84)
# Which keys read as which piece: General MIDI percussion plus the Roland TD-11 keys of the Groove MIDI
# Dataset (22 closed hi-hat edge, 26 open hi-hat edge, 58 floor-tom rim), as in MusicVAE's 9-piece mapping.
_PIECE_OF_KEYS = (
    (35, 36),
    (27, 28, 31, 32, 33, 34, 37, 38, 39, 40, 56, 65, 66, 75, 85),
    (22, 42, 44, 54, 68, 69, 70, 71, 73, 78, 80),
    (26, 46, 67, 72, 74, 79, 81),
    (29, 41, 43, 45, 58, 61, 64, 84),
    (47, 48, 60, 63, 77, 86, 87),
    (30, 50, 62, 76, 83),
    (49, 52, 55, 57),
    (51, 53, 59, 82),
)
PIECE_OF_KEY = {key: piece for piece, keys in enumerate(_PIECE_OF_KEYS) for key in keys}
OFF_GRID_STEPS = 0.2


@dataclass(frozen=True)
class DrumClip(GridClip):
    """A drum clip on the sixteenth-note grid: tokens (num_bars * steps_per_bar,) in [0, 512)."""

    tokens: np.ndarray
    time_signature: TimeSignature
    tempo_bpm: float = DEFAULT_TEMPO_BPM

    def hits(self) -> list[tuple[int, int]]:
        """(piece, step) of every hit."""
        return [(piece, int(step)) for step, token in enumerate(self.tokens.tolist()) for piece in range(NUM_DRUM_PIECES)
                if token >> piece & 1]


def hits_to_grid(hits: list[tuple[int, int]], num_steps: int) -> np.ndarray:
    """Tokens from (piece, step) hits; hits outside 0..num_steps-1 are ignored."""
    tokens = np.zeros(num_steps, dtype=np.int64)
    for piece, step in hits:
        if 0 <= step < num_steps:
            tokens[step] |= 1 << piece
    return tokens


def piece_roll(tokens: np.ndarray) -> np.ndarray:
    """(steps, 9) booleans: which pieces are struck at each step (tokens may be a batch, (..., steps))."""
    return (np.asarray(tokens)[..., None] >> np.arange(NUM_DRUM_PIECES)) & 1 == 1


@dataclass(frozen=True)
class ReadDrumClip:
    clip: DrumClip
    notices: tuple[Notice, ...]


def drum_hits(opened: OpenedMidi) -> tuple[list[tuple[int, int]], list[Notice]]:
    """(piece, step) of every drum note of every drum track (channel 10) of an opened file, and notices on
    keys changed or dropped and onsets moved; InvalidInput when the file has no drum notes."""
    tracks = [inst for inst in opened.midi.instruments if inst.is_drum and inst.notes]
    if not tracks:
        raise InvalidInput("the MIDI file has no drum notes (no notes on channel 10): give a drum clip, "
                           "or use the melody latent model for a pitched line")
    hits, dropped, renamed, off_grid, total = [], {}, 0, 0, 0
    for instrument in tracks:
        for note in instrument.notes:
            total += 1
            piece = PIECE_OF_KEY.get(note.pitch)
            if piece is None:
                dropped[note.pitch] = dropped.get(note.pitch, 0) + 1
                continue
            renamed += note.pitch != PIECE_KEYS[piece]
            exact = opened.step_of(note.start)
            off_grid += abs(exact - round(exact)) > OFF_GRID_STEPS
            hits.append((piece, int(round(exact))))
    notices = []
    if dropped:
        keys = ", ".join(f"{key} ({count})" for key, count in sorted(dropped.items()))
        notices.append(Notice("drum_keys_dropped", f"{sum(dropped.values())} of {total} drum notes use keys "
                                                   f"outside the 9-piece kit and were left out: {keys}"))
    if renamed:
        notices.append(Notice("drum_keys_merged", f"{renamed} drum notes come back as their kit piece's key "
                                                  f"(e.g. a side stick as a snare): the drum model knows 9 pieces, "
                                                  f"{', '.join(PIECE_NAMES)}"))
    if off_grid:
        notices.append(Notice("off_grid_onsets", f"{off_grid} of {total} drum onsets fall between sixteenth "
                                                 "notes (swing, flams, human timing) and were moved to the "
                                                 "nearest sixteenth"))
    if not hits:
        raise InvalidInput("none of the file's drum notes is a kit piece the drum model knows "
                           f"({', '.join(PIECE_NAMES)})")
    return hits, notices


def read_drum_clip(midi_bytes: bytes, max_bars: int = MAX_CLIP_BARS) -> ReadDrumClip:
    """Reads the drum tracks of a Standard MIDI File onto the drum grid (see the module docstring).

    The clip starts at the file's first bar line and lasts whole bars up to the last hit (or an "end" text
    event). Raises InvalidInput for unreadable files or files without drums, LimitExceeded above max_bars.
    """
    opened = open_midi(midi_bytes)
    hits, notices = drum_hits(opened)
    pitched = [inst for inst in opened.midi.instruments if not inst.is_drum and inst.notes]
    if pitched:
        names = ", ".join(inst.name.strip() or f"program {inst.program}" for inst in pitched)
        notices.append(Notice("pitched_left_out", f"left out the pitched tracks ({names}): the drum model "
                                                  "reads the drums only"))
    steps = [step for _, step in hits]
    num_bars = opened.num_bars(steps, [step + 1 for step in steps], max_bars)
    tokens = hits_to_grid(hits, num_bars * opened.time_signature.steps_per_bar)
    notices = opened.notices + notices
    return ReadDrumClip(DrumClip(tokens, opened.time_signature, opened.tempo_bpm), tuple(notices))


def add_drum_track(midi: "pretty_midi.PrettyMIDI", clip: DrumClip, name: str = "drums") -> None:  # type: ignore[name-defined]
    """Appends the clip as a GM drum track (channel 10, one key and velocity per piece)."""
    import pretty_midi

    seconds_per_step = 60.0 / float(clip.tempo_bpm) / STEPS_PER_QUARTER
    instrument = pretty_midi.Instrument(program=0, is_drum=True, name=name)
    for piece, step in clip.hits():
        instrument.notes.append(pretty_midi.Note(velocity=PIECE_VELOCITIES[piece], pitch=PIECE_KEYS[piece],
                                                 start=step * seconds_per_step, end=(step + 1) * seconds_per_step))
    midi.instruments.append(instrument)


def drum_clip_to_midi(clip: DrumClip) -> bytes:
    """Writes a drum clip as a type-1 Standard MIDI File: one drum track on channel 10."""
    midi = new_midi(clip.time_signature, clip.tempo_bpm, clip.num_steps)
    add_drum_track(midi, clip)
    return midi_bytes(midi)
