"""Groove: humanised timing and velocity for a quantised clip, from a small model of real playing.

The model is a table over note contexts fitted to performed MIDI (pitched parts: POP909's piano
arrangements; drum parts, channel 10: the Groove MIDI Dataset's drum performances, in tables of their
own; the training script is symbolic/groove_train.py, never imported here). A note's context is where it
falls in the bar (downbeat, mid-bar beat, other beat, eighth off-beat, sixteenth off-beat, triplet,
other) and its register (bass, middle, high) or, for drums, its voice (kick, snare, hi-hat and cymbals,
toms and other). For each context the model holds the mean and spread of the velocity
accent (the note's velocity minus its track's level around it) and of the timing offset from the grid
in milliseconds. Timing offsets of one track follow an AR(1) process (a player's timing drifts smoothly,
it is not independent jitter), notes struck together spread a little, and each track's level swells
bar by bar (an AR(1) over bars). `amount` scales all of it: 0 returns the file unchanged.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ostinato.errors import InvalidInput, MissingAsset
from symbolic.midi_file import FileNote, MidiEventFile, with_fields

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained" / "groove"
METRIC_CLASSES = ("downbeat", "mid-bar beat", "beat", "eighth off-beat", "sixteenth off-beat", "triplet", "other")
REGISTERS = ("bass", "middle", "high")
DRUM_VOICES = ("kick", "snare", "hi-hat and cymbals", "toms and other")
DRUM_CHANNEL = 9  # GM channel 10
# GM drum keys (and the Roland kit's extra hi-hat keys 22 and 26 the Groove MIDI Dataset uses) by voice
_KICK = frozenset((35, 36))
_SNARE = frozenset((37, 38, 39, 40))
_CYMBALS = frozenset((22, 26, 42, 44, 46, 49, 51, 52, 53, 55, 57, 59))
BASS_HIGHEST_PITCH = 55  # G3 and below: the bass register
MIDDLE_HIGHEST_PITCH = 71  # B4 and below: the middle register
CHORD_WINDOW_S = 0.03  # onsets of one track closer than this are one chord (struck together)
_POSITION_TOLERANCE = 0.04  # of a beat: how close to a grid position a note must start to count as on it


@dataclass
class GrooveConfig:
    """What the model is and how it was made (saved beside its tables)."""

    metric_classes: tuple[str, ...] = METRIC_CLASSES
    registers: tuple[str, ...] = REGISTERS
    max_offset_ms: float = 60.0  # offsets are clipped to this (training and generation)
    max_offset_beats: float = 0.125  # ...and to an eighth of a beat at fast tempi
    trained_on: str = ""
    training_songs: int = 0
    timing_songs: int = 0
    held_out: list[str] = field(default_factory=list)
    # Drum parts (channel 10) have tables of their own over DRUM_VOICES when drums.json is present.
    drum_voices: tuple[str, ...] = DRUM_VOICES
    drums_trained_on: str = ""
    drum_performances: int = 0
    drums_held_out_sessions: list[str] = field(default_factory=list)


@dataclass
class GrooveTables:
    """Per (metric class, register): velocity accent and timing offset statistics, and the globals."""

    velocity_mean: list[list[float]]
    velocity_std: list[list[float]]
    timing_mean_ms: list[list[float]]
    timing_std_ms: list[list[float]]
    timing_ar: float  # lag-1 correlation of one track's successive timing residuals
    chord_spread_ms: float  # spread of onsets within a struck chord
    level_std: float  # bar-to-bar swing of a track's level (velocity units)
    level_ar: float  # lag-1 correlation of a track's bar levels


def metric_class(beat_position: float, beat_in_bar: int, beats_in_bar: int) -> int:
    """The index into METRIC_CLASSES of a note starting `beat_position` (0-1) into beat `beat_in_bar`."""
    position = beat_position % 1.0

    def near(target: float) -> bool:
        return abs(position - target) < _POSITION_TOLERANCE or abs(position - target - 1.0) < _POSITION_TOLERANCE

    if near(0.0):
        if beat_in_bar == 0:
            return 0
        if beats_in_bar >= 4 and beats_in_bar % 2 == 0 and beat_in_bar == beats_in_bar // 2:
            return 1
        return 2
    if near(0.5):
        return 3
    if near(0.25) or near(0.75):
        return 4
    if near(1 / 3) or near(2 / 3):
        return 5
    return 6


def register(pitch: int) -> int:
    return 0 if pitch <= BASS_HIGHEST_PITCH else 1 if pitch <= MIDDLE_HIGHEST_PITCH else 2


def drum_voice(pitch: int) -> int:
    """The index into DRUM_VOICES of a drum key."""
    return 0 if pitch in _KICK else 1 if pitch in _SNARE else 2 if pitch in _CYMBALS else 3


def ar1(rng: np.random.Generator, count: int, correlation: float) -> np.ndarray:
    """`count` steps of a unit-variance AR(1) process."""
    out = np.empty(count)
    if count == 0:
        return out
    noise = rng.standard_normal(count)
    innovation = np.sqrt(max(0.0, 1.0 - correlation * correlation))
    out[0] = noise[0]
    for index in range(1, count):
        out[index] = correlation * out[index - 1] + innovation * noise[index]
    return out


@dataclass
class GrooveModel:
    config: GrooveConfig
    tables: GrooveTables
    drum_tables: GrooveTables | None = None  # None: drum parts use `tables` (by pitch register)

    @classmethod
    def from_pretrained(cls, directory: Path | str = PRETRAINED_DIR) -> "GrooveModel":
        directory = Path(directory)
        try:
            config = json.loads((directory / "config.json").read_text())
            tables = json.loads((directory / "groove.json").read_text())
            drum_path = directory / "drums.json"
            drum_tables = json.loads(drum_path.read_text()) if drum_path.exists() else None
        except (OSError, ValueError) as error:
            raise MissingAsset(f"the groove model in {directory} could not be read: {error}") from error
        config["metric_classes"] = tuple(config["metric_classes"])
        config["registers"] = tuple(config["registers"])
        config["drum_voices"] = tuple(config.get("drum_voices", DRUM_VOICES))
        return cls(GrooveConfig(**config), GrooveTables(**tables),
                   GrooveTables(**drum_tables) if drum_tables is not None else None)

    def save_pretrained(self, directory: Path | str) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(asdict(self.config), indent=1) + "\n")
        for name, tables in (("groove.json", self.tables), ("drums.json", self.drum_tables)):
            if tables is None:
                continue
            rounded = {key: (np.round(np.asarray(value), 3).tolist() if isinstance(value, list) else round(value, 4))
                       for key, value in asdict(tables).items()}
            (directory / name).write_text(json.dumps(rounded, indent=1) + "\n")

    def generate(self, midi: bytes, amount: float = 1.0, seed: int = 1) -> bytes:
        """The file with humanised note timing and velocities; every other event unchanged.

        Args:
            midi: Standard MIDI File bytes (a quantised clip; any length, any meter, tempo map kept).
            amount: 0 (unchanged) to 1 (the model's full timing and dynamics).
            seed: the same seed and input give the same output.
        """
        if not np.isfinite(amount) or not 0.0 <= amount <= 1.0:
            raise InvalidInput(f"groove amount {amount:g} must be between 0 and 1")
        song = MidiEventFile.from_bytes(midi, "MIDI file")
        notes = song.live_notes()
        if not notes:
            raise InvalidInput("the MIDI file has no notes to humanise")
        if amount == 0.0:
            return bytes(midi)
        rng = np.random.default_rng(seed)
        offsets_ticks, velocities = self._sample(song, notes, rng, amount)
        _apply(song, notes, offsets_ticks, velocities)
        return song.to_bytes()

    def _sample(self, song: MidiEventFile, notes: list[FileNote], rng: np.random.Generator,
                amount: float) -> tuple[np.ndarray, np.ndarray]:
        bar_map = song.bars()
        tpq = song.ticks_per_quarter
        offsets_ticks = np.zeros(len(notes), dtype=np.int64)
        velocities = np.array([n.velocity for n in notes], dtype=np.int64)
        tempos = song.tempo_map()
        tempo_ticks = [tick for tick, _ in tempos]
        by_part: dict[tuple[int, int], list[int]] = {}
        for index, note in enumerate(notes):
            by_part.setdefault((note.track, note.channel), []).append(index)
        for (_, channel), indexes in by_part.items():
            drums = channel == DRUM_CHANNEL and self.drum_tables is not None
            tables = self.drum_tables if drums else self.tables
            context_of = drum_voice if drums else register
            indexes.sort(key=lambda i: notes[i].start_tick)
            starts = np.array([notes[i].start_tick for i in indexes])
            chord_of = np.concatenate([[0], np.cumsum(np.diff(starts) > 0)])  # notes at one tick: one chord
            drift = ar1(rng, int(chord_of[-1]) + 1, tables.timing_ar)
            bars = [bar_map.bar_at(int(s)) for s in starts]
            level = ar1(rng, len(bar_map) + 1, tables.level_ar) * tables.level_std
            for position, index in enumerate(indexes):
                note = notes[index]
                bar = bars[position]
                meter = tuple(bar_map.meter[bar])
                beat_ticks = tpq * (4 / meter[1]) * (3 if meter[1] == 8 and meter[0] % 3 == 0 and meter[0] > 3 else 1)
                beats_in_bar = max(1, int(round((bar_map.end_tick[bar] - bar_map.start_tick[bar]) / beat_ticks)))
                in_bar = (note.start_tick - int(bar_map.start_tick[bar])) / beat_ticks
                context = metric_class(in_bar % 1.0, int(in_bar), beats_in_bar), context_of(note.pitch)
                mean_ms = tables.timing_mean_ms[context[0]][context[1]]
                std_ms = tables.timing_std_ms[context[0]][context[1]]
                offset_ms = mean_ms + std_ms * drift[chord_of[position]] + tables.chord_spread_ms * rng.standard_normal()
                bpm = tempos[max(0, bisect_right(tempo_ticks, note.start_tick) - 1)][1]
                seconds_per_tick = 60.0 / bpm / tpq
                limit_ms = min(self.config.max_offset_ms, self.config.max_offset_beats * beat_ticks * seconds_per_tick * 1000)
                offset_ms = min(max(float(offset_ms), -limit_ms), limit_ms) * amount
                offsets_ticks[index] = int(round(offset_ms / 1000 / seconds_per_tick))
                accent = (tables.velocity_mean[context[0]][context[1]] + level[bar]
                          + tables.velocity_std[context[0]][context[1]] * rng.standard_normal())
                velocities[index] = min(max(int(round(note.velocity + amount * accent)), 1), 127)
        return offsets_ticks, velocities


def _apply(song: MidiEventFile, notes: list[FileNote], offsets_ticks: np.ndarray, velocities: np.ndarray) -> None:
    """Moves each note (on and off together, so durations hold) and sets its velocity, in place. A note
    never starts before tick 0, and a re-struck pitch never starts before its predecessor ends."""
    new_start = {}
    for index, note in enumerate(notes):
        new_start[index] = max(0, note.start_tick + int(offsets_ticks[index]))
    same_pitch: dict[tuple[int, int, int], list[int]] = {}
    for index, note in enumerate(notes):
        same_pitch.setdefault((note.track, note.channel, note.pitch), []).append(index)
    new_end = {index: max(new_start[index] + 1, notes[index].end_tick + new_start[index] - notes[index].start_tick)
               for index in new_start}
    for indexes in same_pitch.values():
        indexes.sort(key=lambda i: notes[i].start_tick)
        for earlier, later in zip(indexes, indexes[1:]):
            first, second = notes[earlier], notes[later]
            if second.start_tick == first.start_tick:
                continue  # the file struck the pitch twice at once: not an order to keep
            if new_start[later] <= new_start[earlier]:
                new_start[later] = new_start[earlier] + 1
            if first.end_tick <= second.start_tick:  # released before the re-strike: keep it so
                new_end[earlier] = max(min(new_end[earlier], new_start[later]), new_start[earlier] + 1)
    for index, note in enumerate(notes):
        events = song.tracks[note.track]
        on = events[note.on_index]
        on.tick = new_start[index]
        on.message = with_fields(on.message, velocity=int(velocities[index]))  # 1-127, clipped above
        if note.off_index >= 0:
            events[note.off_index].tick = new_end[index]
        note.start_tick, note.end_tick, note.velocity = new_start[index], new_end[index], int(velocities[index])
