"""The one attribute extractor: training prefixes and evaluation both measure music with it.

Music enters as a `NoteTable` (onsets and durations in quarter notes, pitches, GM programs with -1 for
drums) plus its meter and tempo. `extract` returns `Attributes`; the `*_bin` helpers turn continuous
values into the discrete levels the model is conditioned on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

DRUM_PROGRAM = -1

MODES = ("major", "minor", "dorian", "phrygian", "lydian", "mixolydian", "locrian")
# Semitone offset of each mode's tonic within the major scale it shares notes with.
_MODE_OFFSET = {"major": 0, "dorian": 2, "phrygian": 4, "lydian": 5, "mixolydian": 7, "minor": 9, "locrian": 11}
_COLOUR_INTERVAL = {"major": 11, "minor": 8, "dorian": 9, "mixolydian": 10, "lydian": 6, "phrygian": 1, "locrian": 6}
# The one table of key names: how a pitch class is written, and how a written tonic is read.
PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTER_PITCH_CLASSES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
ACCIDENTAL_SEMITONES = {"": 0, "#": 1, "♯": 1, "sharp": 1, "b": -1, "♭": -1, "flat": -1}


def tonic_pitch_class(letter: str, accidental: str = "") -> int:
    """The pitch class of a written tonic: ("f", "#") -> 6, ("B", "flat") -> 10 (KeyError if unknown)."""
    return (_LETTER_PITCH_CLASSES[letter.lower()] + ACCIDENTAL_SEMITONES[accidental.lower()]) % 12

STYLES = (
    "jig", "slip jig", "slide", "reel", "hornpipe", "strathspey", "polka", "waltz", "march", "air",
    "folk", "chorale",
)
TIME_SIGNATURES = ((2, 4), (3, 4), (4, 4), (5, 4), (6, 4), (3, 8), (6, 8), (9, 8), (12, 8), (2, 2), (3, 2))

# Bin edges. A value v falls in bin i when edges[i-1] <= v < edges[i].
TEMPO_EDGES_BPM = (60, 72, 84, 96, 108, 120, 135, 150, 170, 190, 215, 240)
RANGE_EDGES_OCTAVES = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
DENSITY_EDGES_ONSETS_PER_QUARTER = (0.75, 1.25, 1.75, 2.25)
POLYPHONY_EDGES = (1.5, 2.5, 3.5)
MAX_BARS_TOKEN = 32

# Krumhansl-Kessler probe-tone profiles, indexed from the tonic.
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)


def _mode_profile(mode: str) -> np.ndarray:
    """Profile for a church mode: the major profile's weights moved onto the mode's scale degrees."""
    if mode == "major":
        return _KK_MAJOR
    if mode == "minor":
        return _KK_MINOR
    offset = _MODE_OFFSET[mode]
    scale = sorted((step - offset) % 12 for step in _MAJOR_SCALE)
    profile = np.full(12, 2.3)
    degree_weights = (6.35, 3.48, 4.38, 4.09, 5.19, 3.66, 2.88)  # 1..7 of the major profile
    for degree, pitch_class in enumerate(scale):
        profile[pitch_class] = degree_weights[degree]
    return profile


_PROFILES = {mode: _mode_profile(mode) for mode in MODES}
# Church modes must fit clearly better than major/minor to be chosen; the prior keeps the common
# cases stable when a tune only touches the distinguishing degree once.
_MODE_PRIOR = {"major": 0.0, "minor": 0.0, "dorian": -0.03, "mixolydian": -0.03, "phrygian": -0.06,
               "lydian": -0.06, "locrian": -0.1}


@dataclass(frozen=True)
class Key:
    tonic_pitch_class: int
    mode: str

    def __str__(self) -> str:
        return f"{PITCH_CLASS_NAMES[self.tonic_pitch_class]} {self.mode}"

    def scale_pitch_classes(self) -> frozenset[int]:
        offset = _MODE_OFFSET[self.mode]
        return frozenset((self.tonic_pitch_class + step - offset) % 12 for step in _MAJOR_SCALE)

    def triad_pitch_classes(self) -> frozenset[int]:
        """Tonic, third and fifth of the mode."""
        scale = sorted(self.scale_pitch_classes(), key=lambda pc: (pc - self.tonic_pitch_class) % 12)
        return frozenset((scale[0], scale[2], scale[4]))

    def colour_pitch_classes(self) -> frozenset[int]:
        """The degree that tells this mode from its most common neighbour on the same tonic (the mode
        that differs by that one note): major's 7th (vs mixolydian), minor's 6th (vs dorian), dorian's
        6th (vs minor), mixolydian's 7th (vs major)... A tune that never plays it reads as the neighbour."""
        return frozenset({(self.tonic_pitch_class + _COLOUR_INTERVAL[self.mode]) % 12})

    def transposed(self, semitones: int) -> "Key":
        return Key((self.tonic_pitch_class + semitones) % 12, self.mode)


@dataclass
class Attributes:
    """What a clip is (measured) or should be (requested). None means unspecified."""

    instruments: list[int] | None = None  # GM programs, -1 = drums
    key: Key | None = None
    time_signature: tuple[int, int] | None = None
    tempo_bpm: float | None = None
    bars: int | None = None
    pitch_low: int | None = None
    pitch_high: int | None = None
    pitch_range_octaves: float | None = None
    notes_per_bar: float | None = None
    rhythm_intensity: float | None = None  # 0..1, the density level scaled
    duration_s: float | None = None
    style: str | None = None
    polyphony: float | None = None
    # A chord progression, one chord per bar ("C G Am F", or Roman numerals in the key: "I V vi IV");
    # a shorter progression repeats. symbolic.chords parses it. Generated clips return theirs.
    chords: str | None = None
    # Role per program (symbolic.roles.ROLES); programs left out get one from the ensemble.
    roles: dict[int, str] | None = None
    extra: dict = field(default_factory=dict)

    def copy(self, **changes) -> "Attributes":
        return replace(self, **changes)


@dataclass
class NoteTable:
    """Notes as parallel arrays; times in quarter notes from the start of bar 0."""

    onset_q: np.ndarray
    duration_q: np.ndarray
    pitch: np.ndarray
    program: np.ndarray
    velocity: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pitch)

    @classmethod
    def empty(cls) -> "NoteTable":
        zero = np.zeros(0)
        return cls(zero, zero.copy(), zero.astype(int), zero.astype(int))

    def select(self, mask: np.ndarray) -> "NoteTable":
        velocity = None if self.velocity is None else self.velocity[mask]
        return NoteTable(self.onset_q[mask], self.duration_q[mask], self.pitch[mask], self.program[mask], velocity)


def concat_tables(tables: list[NoteTable]) -> NoteTable:
    """The notes of several tables in one, ordered by onset then pitch (velocity 90 where a table has none)."""
    tables = [t for t in tables if len(t)]
    if not tables:
        return NoteTable.empty()
    velocity = np.concatenate([t.velocity if t.velocity is not None else np.full(len(t), 90) for t in tables])
    table = NoteTable(np.concatenate([t.onset_q for t in tables]), np.concatenate([t.duration_q for t in tables]),
                      np.concatenate([t.pitch for t in tables]).astype(int),
                      np.concatenate([t.program for t in tables]).astype(int), velocity.astype(int))
    return table.select(np.lexsort((table.pitch, table.onset_q)))


def bar_quarters(time_signature: tuple[int, int]) -> float:
    numerator, denominator = time_signature
    return numerator * 4.0 / denominator


def bin_index(value: float, edges: tuple[float, ...]) -> int:
    return int(np.searchsorted(np.asarray(edges), value, side="right"))


def find_key(pitch: np.ndarray, duration_q: np.ndarray, last_bass_pitch: int | None = None) -> Key | None:
    """Key finding: correlation of the duration-weighted pitch-class histogram with mode profiles.

    The lowest note of the final onset gets extra weight (a folk tune or chorale ends on its tonic).
    """
    if len(pitch) == 0:
        return None
    histogram = np.bincount(np.asarray(pitch, dtype=int) % 12, weights=np.asarray(duration_q, dtype=float),
                            minlength=12)
    if last_bass_pitch is not None:
        histogram[last_bass_pitch % 12] += 0.15 * histogram.sum() + 1e-9
    if histogram.sum() <= 0:
        return None
    best: tuple[float, Key] | None = None
    centred = histogram - histogram.mean()
    norm = np.sqrt((centred**2).sum()) + 1e-12
    for mode, profile in _PROFILES.items():
        for tonic in range(12):
            rotated = np.roll(profile, tonic)
            rotated_centred = rotated - rotated.mean()
            score = float((centred * rotated_centred).sum() / (norm * np.sqrt((rotated_centred**2).sum())))
            score += _MODE_PRIOR[mode]
            if best is None or score > best[0]:
                best = (score, Key(tonic, mode))
    return best[1]


def key_membership(pitch: np.ndarray, key: Key) -> float:
    """Fraction of pitched notes whose pitch class is in the key's scale."""
    if len(pitch) == 0:
        return 1.0
    scale = np.zeros(12, dtype=bool)
    scale[list(key.scale_pitch_classes())] = True
    return float(scale[np.asarray(pitch, dtype=int) % 12].mean())


def onset_density(table: NoteTable, bars: int, time_signature: tuple[int, int]) -> float:
    """Distinct pitched onset positions (16th grid) per quarter note."""
    pitched = table.program != DRUM_PROGRAM
    if bars <= 0:
        return 0.0
    onsets = np.unique(np.round(table.onset_q[pitched] * 4).astype(int))
    return len(onsets) / (bars * bar_quarters(time_signature))


def polyphony(table: NoteTable) -> float:
    """Mean number of pitched notes sounding at each pitched onset."""
    pitched = table.select(table.program != DRUM_PROGRAM)
    if len(pitched) == 0:
        return 0.0
    grid_onsets = np.unique(np.round(pitched.onset_q * 4).astype(int)) / 4.0
    # Sounding at t = started by t minus ended by t (every end is after its start): two sorted searches
    # instead of an onsets x notes matrix (a 100k-note file asked for 9 GiB).
    starts = np.sort(pitched.onset_q)
    ends = np.sort(pitched.onset_q + np.maximum(pitched.duration_q, 0.125))
    times = grid_onsets + 1e-6
    sounding = np.searchsorted(starts, times, side="right") - np.searchsorted(ends, times, side="right")
    return float(sounding.mean())


def extract(table: NoteTable, time_signature: tuple[int, int], tempo_bpm: float, bars: int | None = None,
            style: str | None = None) -> Attributes:
    """Measures every attribute of a clip. `bars` defaults to the bars the notes reach."""
    bar_q = bar_quarters(time_signature)
    if bars is None:
        end_q = float((table.onset_q + table.duration_q).max()) if len(table) else 0.0
        bars = max(1, int(np.ceil(end_q / bar_q - 1e-6)))
    programs = sorted({int(p) for p in table.program if p != DRUM_PROGRAM})
    if (table.program == DRUM_PROGRAM).any():
        programs.append(DRUM_PROGRAM)
    pitched = table.select(table.program != DRUM_PROGRAM)
    key = None
    low = high = None
    octaves = None
    if len(pitched):
        last_onset = pitched.onset_q.max()
        last_bass = int(pitched.pitch[pitched.onset_q >= last_onset - 1e-6].min())
        key = find_key(pitched.pitch, pitched.duration_q, last_bass)
        low, high = int(pitched.pitch.min()), int(pitched.pitch.max())
        octaves = (high - low) / 12.0
    density = onset_density(table, bars, time_signature)
    return Attributes(
        instruments=programs,
        key=key,
        time_signature=time_signature,
        tempo_bpm=float(tempo_bpm),
        bars=bars,
        pitch_low=low,
        pitch_high=high,
        pitch_range_octaves=octaves,
        notes_per_bar=len(pitched) / bars,
        rhythm_intensity=density_level(density) / (len(DENSITY_EDGES_ONSETS_PER_QUARTER)),
        duration_s=bars * bar_q * 60.0 / float(tempo_bpm),
        style=style,
        polyphony=polyphony(table),
        extra={"onsets_per_quarter": density},
    )


def density_level(onsets_per_quarter: float) -> int:
    return bin_index(onsets_per_quarter, DENSITY_EDGES_ONSETS_PER_QUARTER)


def intensity_to_level(rhythm_intensity: float) -> int:
    levels = len(DENSITY_EDGES_ONSETS_PER_QUARTER)
    return int(round(min(max(rhythm_intensity, 0.0), 1.0) * levels))


def range_level(octaves: float) -> int:
    return bin_index(octaves, RANGE_EDGES_OCTAVES)


def polyphony_level(value: float) -> int:
    return bin_index(value, POLYPHONY_EDGES)


def tempo_level(tempo_bpm: float) -> int:
    return bin_index(tempo_bpm, TEMPO_EDGES_BPM)


