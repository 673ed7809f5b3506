"""The melody grid that the latent model reads and writes, and its conversion to and from MIDI files.

Why a fixed grid and not miditok: the attribute-conditioned LM tokenizes with miditok (REMI), whose
sequences vary in length with the number of notes. A MusicVAE-style latent space wants the opposite: a
clip of a given meter and bar count is always the same number of steps, so every position of the decoder
means the same point in the bar, the encoder summarises a fixed-size object, and per-step reconstruction
accuracy is comparable across clips (it is the figure MusicVAE reports). So, like MusicVAE's melody
models, a clip is one token per sixteenth note with 130 classes: note-on for MIDI pitches 0-127,
note-off, and no-event (hold the current note, or keep resting). MIDI enters and leaves only as
Standard MIDI File bytes through pretty_midi; the grid never leaves this package.

Meters: a bar has numerator * 16 / denominator steps (4/4 -> 16, 3/4 and 6/8 -> 12, 2/4 -> 8, 9/8 -> 18).
The model also sees per-step metric features (bar start, beat start, eighth position, ...) so it can tell
3/4 from 6/8, which have the same number of steps.

Multi-track input: the melody is taken from the non-drum track with the highest mean pitch, reduced to
one voice by keeping the highest note at each onset ("skyline"). Other tracks are ignored.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

from ostinato.errors import InvalidInput, LimitExceeded
from ostinato.midi_scan import scan_midi

NUM_PITCHES = 128
NOTE_OFF = 128
NO_EVENT = 129
NUM_CLASSES = 130
STEPS_PER_QUARTER = 4
MAX_STEPS = 64  # four bars of 4/4, the longest window the model was trained on
MAX_CLIP_BARS = 64  # longer clips are processed in pieces (see space.py)
METRIC_FEATURES = 8

DEFAULT_TEMPO_BPM = 120.0
END_MARKER = "end"
DEFAULT_PROGRAM = 73  # flute: folk melodies are what the model learned


@dataclass(frozen=True)
class TimeSignature:
    numerator: int
    denominator: int

    @property
    def steps_per_bar(self) -> int:
        return self.numerator * 16 // self.denominator

    @property
    def steps_per_beat(self) -> int:
        """Steps per felt beat: a dotted quarter in compound meters (6/8, 9/8, 12/8)."""
        if self.denominator == 8 and self.numerator % 3 == 0 and self.numerator > 3:
            return 6
        return 16 // self.denominator

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


def check_time_signature(numerator: int, denominator: int) -> TimeSignature:
    """Validates a meter the grid can represent (whole sixteenth-note bars)."""
    meter = TimeSignature(numerator, denominator)
    if denominator not in (2, 4, 8, 16) or numerator < 1 or not 4 <= meter.steps_per_bar <= MAX_STEPS // 2:
        raise InvalidInput(f"time signature {numerator}/{denominator} is not supported: a bar must hold "
                           f"4-{MAX_STEPS // 2} sixteenth notes, with a denominator of 2, 4, 8 or 16")
    return meter


@dataclass(frozen=True)
class MelodyClip:
    """A monophonic clip on the sixteenth-note grid.

    tokens: int array of shape (num_bars * steps_per_bar,), values in [0, 130).
    """

    tokens: np.ndarray
    time_signature: TimeSignature
    tempo_bpm: float = DEFAULT_TEMPO_BPM
    program: int = DEFAULT_PROGRAM

    @property
    def num_steps(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def num_bars(self) -> int:
        return self.num_steps // self.time_signature.steps_per_bar

    def notes(self) -> list[tuple[int, int, int]]:
        """(pitch, start_step, end_step) for every note."""
        return grid_to_notes(self.tokens)


def metric_features(time_signature: TimeSignature, num_steps: int) -> np.ndarray:
    """Per-step features describing where each step falls in the bar; shape (num_steps, 8)."""
    steps_per_bar = time_signature.steps_per_bar
    steps_per_beat = time_signature.steps_per_beat
    steps = np.arange(num_steps)
    in_bar = steps % steps_per_bar
    features = np.zeros((num_steps, METRIC_FEATURES), dtype=np.float32)
    features[:, 0] = in_bar == 0
    features[:, 1] = in_bar % steps_per_beat == 0
    features[:, 2] = in_bar % 2 == 0
    features[:, 3] = in_bar % 4 == 0
    features[:, 4] = in_bar / steps_per_bar
    features[:, 5] = steps / max(num_steps, 1)
    features[:, 6] = steps_per_beat == 6  # compound meter
    features[:, 7] = steps_per_bar / 16.0
    return features


def grid_to_notes(tokens: np.ndarray) -> list[tuple[int, int, int]]:
    notes: list[tuple[int, int, int]] = []
    current: tuple[int, int] | None = None  # (pitch, start)
    for step, token in enumerate(tokens.tolist()):
        if token == NO_EVENT:
            continue
        if current is not None:
            notes.append((current[0], current[1], step))
            current = None
        if token < NUM_PITCHES:
            current = (token, step)
    if current is not None:
        notes.append((current[0], current[1], len(tokens)))
    return notes


def notes_to_grid(notes: list[tuple[int, int, int]], num_steps: int) -> np.ndarray:
    """Monophonic grid from (pitch, start_step, end_step); at a shared onset the highest pitch wins,
    and a new onset cuts the sounding note."""
    tokens = np.full(num_steps, NO_EVENT, dtype=np.int64)
    by_start: dict[int, tuple[int, int]] = {}
    for pitch, start, end in notes:
        if 0 <= start < num_steps and end > start:
            if start not in by_start or pitch > by_start[start][0]:
                by_start[start] = (pitch, end)
    starts = sorted(by_start)
    for index, start in enumerate(starts):
        pitch, end = by_start[start]
        tokens[start] = pitch
        next_start = starts[index + 1] if index + 1 < len(starts) else num_steps
        if end < next_start and end < num_steps:
            tokens[end] = NOTE_OFF
    return tokens


def _melody_instrument(midi: "pretty_midi.PrettyMIDI") -> "pretty_midi.Instrument":
    candidates = [inst for inst in midi.instruments if not inst.is_drum and inst.notes]
    if not candidates:
        raise InvalidInput("the MIDI file has no pitched notes (only drums, or empty): "
                           "give a clip with a melody")
    return max(candidates, key=lambda inst: float(np.mean([n.pitch for n in inst.notes])))


def midi_to_clip(midi_bytes: bytes, max_bars: int = MAX_CLIP_BARS) -> MelodyClip:
    """Reads the melody of a Standard MIDI File onto the grid (see the module docstring).

    The clip starts at the file's first bar line and lasts whole bars: those with onsets, those a held
    note reaches, and up to an "end" text event (written by clip_to_midi so trailing rests survive).
    The first time signature and tempo stand for the whole clip; positions are read in ticks, so tempo
    changes do not move notes off the grid.
    Raises InvalidInput for unreadable, empty or unsupported files and LimitExceeded above max_bars.
    """
    import pretty_midi

    if not midi_bytes:
        raise InvalidInput("the MIDI data is empty: give a Standard MIDI File")
    scan_midi(midi_bytes)  # bounds ticks at 1e7 whatever note_seq did to pretty_midi's MAX_TICK guard
    try:
        midi = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes))
    except Exception as error:  # pretty_midi/mido raise many unrelated types on corrupt input
        raise InvalidInput(f"could not read the MIDI file ({type(error).__name__}: {error}); "
                           "give a valid Standard MIDI File") from error
    instrument = _melody_instrument(midi)
    if midi.time_signature_changes:
        first = midi.time_signature_changes[0]
        time_signature = check_time_signature(first.numerator, first.denominator)
    else:
        time_signature = TimeSignature(4, 4)
    _, tempi = midi.get_tempo_changes()
    tempo_bpm = round(float(tempi[0]), 3) if len(tempi) else DEFAULT_TEMPO_BPM

    ticks_per_step = midi.resolution / STEPS_PER_QUARTER
    notes = []
    for note in instrument.notes:
        start = int(round(midi.time_to_tick(note.start) / ticks_per_step))
        end = int(round(midi.time_to_tick(note.end) / ticks_per_step))
        notes.append((note.pitch, start, max(end, start + 1)))
    steps_per_bar = time_signature.steps_per_bar
    last_onset = max(start for _, start, _ in notes)
    num_bars = max(1, math.ceil((last_onset + 1) / steps_per_bar))
    # a note ringing a step or two past a bar line does not add a bar
    num_bars = max(num_bars, math.ceil((max(end for _, _, end in notes) - 2) / steps_per_bar))
    for text in midi.text_events:
        if text.text == END_MARKER:
            num_bars = max(num_bars, int(round(midi.time_to_tick(text.time) / ticks_per_step / steps_per_bar)))
    if num_bars > max_bars:
        raise LimitExceeded("bars in the clip", num_bars, max_bars)
    num_steps = num_bars * steps_per_bar
    tokens = notes_to_grid(notes, num_steps)
    return MelodyClip(tokens, time_signature, tempo_bpm, instrument.program)


def clip_to_midi(clip: MelodyClip, velocity: int = 90) -> bytes:
    """Writes a clip as a type-1 Standard MIDI File with its tempo, time signature and program."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=float(clip.tempo_bpm))
    midi.time_signature_changes.append(
        pretty_midi.TimeSignature(clip.time_signature.numerator, clip.time_signature.denominator, 0.0))
    instrument = pretty_midi.Instrument(program=int(clip.program), name="melody")
    seconds_per_step = 60.0 / float(clip.tempo_bpm) / STEPS_PER_QUARTER
    for pitch, start, end in clip.notes():
        instrument.notes.append(pretty_midi.Note(velocity=velocity, pitch=int(pitch),
                                                 start=start * seconds_per_step,
                                                 end=end * seconds_per_step))
    midi.instruments.append(instrument)
    midi.text_events.append(pretty_midi.Text(END_MARKER, clip.num_steps * seconds_per_step))
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()
