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

Pitches keep their register: a bass line is read, modelled and written at its own octave (the model was
trained on melodies and bass lines over the full MIDI range).

What a file loses on the way in is said, never silent (read_clip returns Notices):
- Multi-track input: one pitched track is taken, the one the caller names (track=NAME|INDEX), or else a
  track named like a melody (melody, lead, vocal, ...), or else among the tracks that sound in nearly as
  many bars as the fullest one, the highest. The notice names the track taken, why, and what was left.
  There is no trio (melody + bass + drums) model: an arrangement with drums gets a second notice saying
  that only the one track is in the result.
- Chords: reduced to one voice, the top note (a bass-register track keeps its lowest note instead).
- Onsets between sixteenths (triplets, swing): moved to the nearest sixteenth; the grid has no triplets.
- Meter changes: the first time signature stands for the clip.
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
DEFAULT_PROGRAM = 73  # flute
BASS_REGISTER_MEAN_PITCH = 52  # a track whose mean pitch is below this is read as a bass line
MELODY_NAMES = ("melody", "lead", "vocal", "voice", "tune", "theme", "solo", "top")
OFF_GRID_STEPS = 0.2  # an onset further than this from a sixteenth is off the grid (triplets, swing)
NEARLY_FULL = 0.75  # tracks sounding in at least this share of the fullest track's bars compete on register


@dataclass(frozen=True)
class Notice:
    """Something the caller should know about how their file was read (code + one sentence)."""

    code: str
    message: str


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


class GridClip:
    """Length of a clip that has tokens (one per sixteenth) and a time_signature (melody and drum clips)."""

    tokens: np.ndarray
    time_signature: TimeSignature

    @property
    def num_steps(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def num_bars(self) -> int:
        return self.num_steps // self.time_signature.steps_per_bar


@dataclass(frozen=True)
class MelodyClip(GridClip):
    """A monophonic clip on the sixteenth-note grid.

    tokens: int array of shape (num_bars * steps_per_bar,), values in [0, 130).
    """

    tokens: np.ndarray
    time_signature: TimeSignature
    tempo_bpm: float = DEFAULT_TEMPO_BPM
    program: int = DEFAULT_PROGRAM

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


def notes_to_grid(notes: list[tuple[int, int, int]], num_steps: int, keep_lowest: bool = False) -> np.ndarray:
    """Monophonic grid from (pitch, start_step, end_step); at a shared onset the highest pitch wins (the
    lowest with keep_lowest), and a new onset cuts the sounding note."""
    tokens = np.full(num_steps, NO_EVENT, dtype=np.int64)
    by_start: dict[int, tuple[int, int]] = {}
    for pitch, start, end in notes:
        if 0 <= start < num_steps and end > start:
            if (start not in by_start or (pitch < by_start[start][0] if keep_lowest else pitch > by_start[start][0])):
                by_start[start] = (pitch, end)
    starts = sorted(by_start)
    for index, start in enumerate(starts):
        pitch, end = by_start[start]
        tokens[start] = pitch
        next_start = starts[index + 1] if index + 1 < len(starts) else num_steps
        if end < next_start and end < num_steps:
            tokens[end] = NOTE_OFF
    return tokens


@dataclass(frozen=True)
class ReadClip:
    """A clip read from a MIDI file, the track it came from, and what the reading changed or left out."""

    clip: MelodyClip
    track_index: int
    track_name: str
    notices: tuple[Notice, ...]


def _track_label(index: int, instrument: "pretty_midi.Instrument") -> str:
    name = instrument.name.strip() or ("drums" if instrument.is_drum else f"program {instrument.program}")
    return f"{index} '{name}'"


def _find_track(instruments: list, track: str | int) -> int:
    """Index of the track a caller named: a zero-based index (int or digits) or a track name."""
    labels = ", ".join(_track_label(i, inst) for i, inst in enumerate(instruments))
    if isinstance(track, int) or str(track).strip().isdigit():
        index = int(track)
        if not 0 <= index < len(instruments):
            raise InvalidInput(f"track {index} does not exist: the file has tracks {labels}")
    else:
        wanted = str(track).strip().lower()
        exact = [i for i, inst in enumerate(instruments) if inst.name.strip().lower() == wanted]
        partial = [i for i, inst in enumerate(instruments) if wanted and wanted in inst.name.strip().lower()]
        if not exact and not partial:
            raise InvalidInput(f"no track named {track!r}: the file has tracks {labels}")
        index = (exact or partial)[0]
    if instruments[index].is_drum:
        raise InvalidInput(f"track {_track_label(index, instruments[index])} is drums: the latent model "
                           f"takes a pitched line; the file has tracks {labels}")
    if not instruments[index].notes:
        raise InvalidInput(f"track {_track_label(index, instruments[index])} has no notes")
    return index


def _choose_track(instruments: list, bars_of: "Callable") -> tuple[int, str]:  # type: ignore[name-defined]
    """The track taken when the caller names none, and why (see the module docstring)."""
    pitched = [i for i, inst in enumerate(instruments) if not inst.is_drum and inst.notes]
    if not pitched:
        raise InvalidInput("the MIDI file has no pitched notes (only drums, or empty): give a clip with a melody")
    if len(pitched) == 1:
        return pitched[0], "the only pitched track"
    named = [i for i in pitched if any(word in instruments[i].name.lower() for word in MELODY_NAMES)]
    if named:
        return named[0], "its name marks it as the melody"
    bars = {i: bars_of(instruments[i]) for i in pitched}
    fullest = max(bars.values())
    full = [i for i in pitched if bars[i] >= NEARLY_FULL * fullest]
    chosen = max(full, key=lambda i: float(np.mean([n.pitch for n in instruments[i].notes])))
    return chosen, (f"the highest of the tracks that sound in most bars ({bars[chosen]} of the fullest "
                    f"track's {fullest})")


@dataclass
class OpenedMidi:
    """A parsed MIDI file with the meter, tempo and grid the latent models read it on."""

    midi: "pretty_midi.PrettyMIDI"  # type: ignore[name-defined]
    time_signature: TimeSignature
    tempo_bpm: float
    ticks_per_step: float
    notices: list[Notice]

    def step_of(self, seconds: float) -> float:
        """The (fractional) sixteenth-note step of a time in the file."""
        return self.midi.time_to_tick(seconds) / self.ticks_per_step

    def num_bars(self, starts: list[int], ends: list[int], max_bars: int) -> int:
        """Whole bars of a clip with these note steps: those with onsets, those a held note reaches (a note
        ringing a step or two past a bar line does not add a bar), and up to an "end" text event."""
        steps_per_bar = self.time_signature.steps_per_bar
        num_bars = max(1, math.ceil((max(starts) + 1) / steps_per_bar))
        num_bars = max(num_bars, math.ceil((max(ends) - 2) / steps_per_bar))
        for text in self.midi.text_events:
            if text.text == END_MARKER:
                num_bars = max(num_bars, int(round(self.step_of(text.time) / steps_per_bar)))
        if num_bars > max_bars:
            raise LimitExceeded("bars in the clip", num_bars, max_bars)
        return num_bars


def open_midi(midi_bytes: bytes) -> OpenedMidi:
    """Parses Standard MIDI File bytes (cost-bounded first) and reads the first meter and tempo.
    Raises InvalidInput for empty, unreadable or unsupported files."""
    import pretty_midi

    if not midi_bytes:
        raise InvalidInput("the MIDI data is empty: give a Standard MIDI File")
    scan_midi(midi_bytes)  # cost bounds (ticks, events, notes...) before pretty_midi allocates anything
    try:
        midi = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes))
    except Exception as error:  # pretty_midi/mido raise many unrelated types on corrupt input
        raise InvalidInput(f"could not read the MIDI file ({type(error).__name__}: {error}); "
                           "give a valid Standard MIDI File") from error
    notices: list[Notice] = []
    if midi.time_signature_changes:
        first = midi.time_signature_changes[0]
        time_signature = check_time_signature(first.numerator, first.denominator)
        others = {(ts.numerator, ts.denominator) for ts in midi.time_signature_changes[1:]} - {
            (first.numerator, first.denominator)}
        if others:
            notices.append(Notice("meter_changes", f"the file changes meter; the whole clip is read in its "
                                                   f"first time signature, {time_signature}"))
    else:
        time_signature = TimeSignature(4, 4)
    _, tempi = midi.get_tempo_changes()
    tempo_bpm = round(float(tempi[0]), 3) if len(tempi) else DEFAULT_TEMPO_BPM
    return OpenedMidi(midi, time_signature, tempo_bpm, midi.resolution / STEPS_PER_QUARTER, notices)


def line_notes(opened: OpenedMidi, instrument) -> tuple[list[tuple[int, int, int]], int]:
    """(pitch, start_step, end_step) of a track's notes on the grid, and how many onsets were off it."""
    notes, off_grid = [], 0
    for note in instrument.notes:
        start_exact = opened.step_of(note.start)
        start = int(round(start_exact))
        off_grid += abs(start_exact - start) > OFF_GRID_STEPS
        end = int(round(opened.step_of(note.end)))
        notes.append((note.pitch, start, max(end, start + 1)))
    return notes, off_grid


def read_clip(midi_bytes: bytes, max_bars: int = MAX_CLIP_BARS, track: str | int | None = None) -> ReadClip:
    """Reads one line of a Standard MIDI File onto the grid (see the module docstring).

    The clip starts at the file's first bar line and lasts whole bars: those with onsets, those a held
    note reaches, and up to an "end" text event (written by clip_to_midi so trailing rests survive).
    The first time signature and tempo stand for the whole clip; positions are read in ticks, so tempo
    changes do not move notes off the grid.
    Raises InvalidInput for unreadable, empty or unsupported files or an unknown track, and
    LimitExceeded above max_bars.
    """
    opened = open_midi(midi_bytes)
    midi, time_signature, tempo_bpm = opened.midi, opened.time_signature, opened.tempo_bpm
    notices = opened.notices
    ticks_per_step = opened.ticks_per_step
    steps_per_bar = time_signature.steps_per_bar

    def bars_of(instrument: "pretty_midi.Instrument") -> int:
        return len({int(midi.time_to_tick(n.start) / ticks_per_step) // steps_per_bar for n in instrument.notes})

    instruments = midi.instruments
    if track is not None and str(track).strip() != "":
        index, why = _find_track(instruments, track), "named in the request"
    else:
        index, why = _choose_track(instruments, bars_of)
    instrument = instruments[index]
    left_out = [_track_label(i, inst) for i, inst in enumerate(instruments) if i != index and inst.notes]
    if left_out:
        notices.append(Notice("track_taken", f"took track {_track_label(index, instrument)} ({why}); left out "
                                             f"{', '.join(left_out)}: the latent model varies and blends one "
                                             "line; name another with track=NAME|INDEX"))
        pitched = [inst for inst in instruments if inst.notes and not inst.is_drum]
        if any(inst.is_drum and inst.notes for inst in instruments) and len(pitched) >= 2:
            notices.append(Notice("no_trio_model", "the file holds an arrangement (pitched tracks and drums), "
                                                   "but there is no multi-track (trio: melody, bass, drums) "
                                                   "latent model yet: only the one track above is varied "
                                                   "or blended, the others are not in the result"))

    notes, off_grid = line_notes(opened, instrument)
    num_bars = opened.num_bars([start for _, start, _ in notes], [end for _, _, end in notes], max_bars)
    num_steps = num_bars * steps_per_bar
    keep_lowest = float(np.mean([p for p, _, _ in notes])) < BASS_REGISTER_MEAN_PITCH
    onsets: dict[int, set[int]] = {}
    for pitch, start, _ in notes:
        onsets.setdefault(start, set()).add(pitch)
    chords = sum(len(pitches) > 1 for pitches in onsets.values())
    if chords:
        notices.append(Notice("chords_reduced", f"{chords} chord{'s' if chords > 1 else ''} in track "
                                                f"{_track_label(index, instrument)} cut to "
                                                f"{'the lowest' if keep_lowest else 'the top'} note: the "
                                                "latent model reads one voice"))
    if off_grid:
        notices.append(Notice("off_grid_onsets", f"{off_grid} of {len(notes)} onsets fall between sixteenth "
                                                 "notes (triplets or swing) and were moved to the nearest "
                                                 "sixteenth: the latent grid has no triplets"))
    tokens = notes_to_grid(notes, num_steps, keep_lowest=keep_lowest)
    clip = MelodyClip(tokens, time_signature, tempo_bpm, instrument.program)
    return ReadClip(clip, index, instrument.name, tuple(notices))


def midi_to_clip(midi_bytes: bytes, max_bars: int = MAX_CLIP_BARS, track: str | int | None = None) -> MelodyClip:
    """The clip of read_clip, without its notices."""
    return read_clip(midi_bytes, max_bars, track).clip


def new_midi(time_signature: TimeSignature, tempo_bpm: float, num_steps: int) -> "pretty_midi.PrettyMIDI":  # type: ignore[name-defined]
    """An empty file with a clip's tempo, meter and "end" marker (so trailing rests survive)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=float(tempo_bpm))
    midi.time_signature_changes.append(pretty_midi.TimeSignature(time_signature.numerator,
                                                                 time_signature.denominator, 0.0))
    midi.text_events.append(pretty_midi.Text(END_MARKER, num_steps * 60.0 / float(tempo_bpm) / STEPS_PER_QUARTER))
    return midi


def add_line_track(midi: "pretty_midi.PrettyMIDI", clip: MelodyClip, name: str = "melody",  # type: ignore[name-defined]
                   velocity: int = 90) -> None:
    """Appends a clip's notes as a track with its program."""
    import pretty_midi

    instrument = pretty_midi.Instrument(program=int(clip.program), name=name)
    seconds_per_step = 60.0 / float(clip.tempo_bpm) / STEPS_PER_QUARTER
    for pitch, start, end in clip.notes():
        instrument.notes.append(pretty_midi.Note(velocity=velocity, pitch=int(pitch),
                                                 start=start * seconds_per_step,
                                                 end=end * seconds_per_step))
    midi.instruments.append(instrument)


def midi_bytes(midi: "pretty_midi.PrettyMIDI") -> bytes:  # type: ignore[name-defined]
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def clip_to_midi(clip: MelodyClip, velocity: int = 90) -> bytes:
    """Writes a clip as a type-1 Standard MIDI File with its tempo, time signature and program."""
    midi = new_midi(clip.time_signature, clip.tempo_bpm, clip.num_steps)
    add_line_track(midi, clip, "melody", velocity)
    return midi_bytes(midi)
