"""Chord progressions: one chord per bar, from symbols, Roman numerals or a MIDI clip.

    parse_progression("C G Am F", key, bars=8)      # absolute symbols (looped to fill 8 bars)
    parse_progression("I V vi IV", key, bars=4)     # Roman numerals in the clip's key
    progression_from_table(table, (4, 4), bars=8)   # the chord each bar of a clip sounds

A bad symbol is an InvalidInput naming the symbol and its position; more chords than bars too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ostinato.errors import InvalidInput
from symbolic.attributes import DRUM_PROGRAM, Key, NoteTable, bar_quarters

_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_NAMES_SHARP = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Intervals above the root of each triad quality (third slot first after the root).
QUALITY_INTERVALS = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8), "sus2": (0, 2, 7), "sus4": (0, 5, 7),
}
_QUALITY_SUFFIX = {"maj": "", "min": "m", "dim": "dim", "aug": "aug", "sus2": "sus2", "sus4": "sus4"}
MAX_CHORD_TEXT_CHARS = 2000


@dataclass(frozen=True)
class Chord:
    """A chord: root pitch class, triad quality, optional seventh (semitones above the root) and bass."""

    root_pitch_class: int
    quality: str = "maj"
    seventh: int | None = None  # 10 = minor seventh, 11 = major seventh, 9 = sixth / diminished seventh
    bass_pitch_class: int | None = None

    @property
    def third_pitch_class(self) -> int:
        return (self.root_pitch_class + QUALITY_INTERVALS[self.quality][1]) % 12

    def triad_pitch_classes(self) -> frozenset[int]:
        return frozenset((self.root_pitch_class + step) % 12 for step in QUALITY_INTERVALS[self.quality])

    def pitch_classes(self) -> frozenset[int]:
        tones = {(self.root_pitch_class + step) % 12 for step in QUALITY_INTERVALS[self.quality]}
        if self.seventh is not None:
            tones.add((self.root_pitch_class + self.seventh) % 12)
        if self.bass_pitch_class is not None:
            tones.add(self.bass_pitch_class)
        return frozenset(tones)

    @property
    def bass(self) -> int:
        return self.root_pitch_class if self.bass_pitch_class is None else self.bass_pitch_class

    def symbol(self) -> str:
        text = _NAMES_SHARP[self.root_pitch_class] + _QUALITY_SUFFIX[self.quality]
        if self.seventh is not None:
            text += {10: "7", 11: "maj7", 9: "6"}.get(self.seventh, "7")
            if self.quality == "min" and self.seventh == 10:
                text = _NAMES_SHARP[self.root_pitch_class] + "m7"
            if self.quality == "dim" and self.seventh == 9:
                text = _NAMES_SHARP[self.root_pitch_class] + "dim7"
        if self.bass_pitch_class is not None and self.bass_pitch_class != self.root_pitch_class:
            text += "/" + _NAMES_SHARP[self.bass_pitch_class]
        return text

    def __str__(self) -> str:
        return self.symbol()


# ---- parsing ------------------------------------------------------------------------------------
_ABSOLUTE = re.compile(
    r"^(?P<root>[A-G])(?P<acc>#|b|♯|♭)?"
    r"(?P<quality>maj7|M7|Δ7|Δ|maj|min7|m7b5|m7|min|mi|m|-|dim7|dim|°7|°|o7|o|aug|\+|sus2|sus4|sus|ø7|ø)?"
    r"(?P<ext>7|6|9|11|13|add9)?(?:/(?P<bass>[A-G])(?P<bass_acc>#|b|♯|♭)?)?$")
_ROMAN = re.compile(
    r"^(?P<acc>b|#|♭|♯)?(?P<numeral>VII|vii|III|iii|IV|iv|VI|vi|II|ii|V|v|I|i)"
    r"(?P<quality>°7|°|o7|o|dim7|dim|\+|aug|ø7|ø|sus2|sus4|sus|maj7|M7)?(?P<ext>7|6|9|add9)?$")
_ROMAN_DEGREE = {"i": 0, "ii": 1, "iii": 2, "iv": 3, "v": 4, "vi": 5, "vii": 6}
_MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
_MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10)  # natural minor; V and vii° are written with their quality (V, vii°)
_NO_CHORD = {"n", "nc", "n.c.", "-", "x", "%"}


def _accidental(text: str | None) -> int:
    return {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(text or "", 0)


def _quality_and_seventh(quality: str | None, ext: str | None, default: str) -> tuple[str, int | None]:
    seventh = None
    q = quality or ""
    if q in ("maj7", "M7", "Δ7", "Δ"):
        return (default if default != "min" else "maj"), 11
    if q in ("m7", "min7"):
        return "min", 10
    if q in ("m7b5", "ø7", "ø"):
        return "dim", 10
    if q in ("dim7", "°7", "o7"):
        return "dim", 9
    name = {"": default, "maj": "maj", "min": "min", "mi": "min", "m": "min", "-": "min", "dim": "dim", "°": "dim",
            "o": "dim", "aug": "aug", "+": "aug", "sus2": "sus2", "sus4": "sus4", "sus": "sus4"}[q]
    if ext == "7":
        seventh = 10  # C7 and Am7 both carry the minor seventh
    elif ext == "6":
        seventh = 9
    return name, seventh


def parse_chord(symbol: str, key: Key | None = None) -> Chord | None:
    """One chord symbol ("Am", "F#m7", "G7/B", "Bb") or Roman numeral ("vi", "V7", "bVII") -> Chord.

    Returns None for "N"/"NC" (no chord in that bar). Raises ValueError when it is neither.
    """
    text = symbol.strip()
    if text.lower() in _NO_CHORD:
        return None
    match = _ABSOLUTE.match(text)
    if match:
        root = (_LETTER_PC[match["root"]] + _accidental(match["acc"])) % 12
        quality, seventh = _quality_and_seventh(match["quality"], match["ext"], "maj")
        bass = None
        if match["bass"]:
            bass = (_LETTER_PC[match["bass"]] + _accidental(match["bass_acc"])) % 12
        return Chord(root, quality, seventh, bass)
    match = _ROMAN.match(text)
    if match:
        if key is None:
            raise ValueError("a Roman numeral needs a key")
        numeral = match["numeral"]
        degree = _ROMAN_DEGREE[numeral.lower()]
        steps = _MINOR_STEPS if key.mode in ("minor", "dorian", "phrygian", "locrian") else _MAJOR_STEPS
        root = (key.tonic_pitch_class + steps[degree] + _accidental(match["acc"])) % 12
        default = "maj" if numeral.isupper() else "min"
        quality, seventh = _quality_and_seventh(match["quality"], match["ext"], default)
        if match["ext"] == "7" and match["quality"] is None:
            seventh = 10 if not (numeral.isupper() and degree in (0, 3) and key.mode == "major") else 11
            if numeral.isupper() and degree == 4:
                seventh = 10  # V7 is the dominant seventh in either mode
        return Chord(root, quality, seventh)
    raise ValueError(text)


def split_symbols(text: str) -> list[str]:
    """Chord symbols of a progression written with spaces, commas or bar lines."""
    return [part for part in re.split(r"[\s,|;]+", text.strip()) if part]


def parse_progression(text: str, key: Key | None, bars: int) -> list[Chord | None]:
    """Per-bar chords for `bars` bars: a shorter progression repeats; more chords than bars is refused.

    Raises:
        InvalidInput: an unknown symbol (named, with its position from 1), Roman numerals without a
            key, more chords than bars, or an empty progression.
    """
    if len(text) > MAX_CHORD_TEXT_CHARS:
        raise InvalidInput(f"the chord progression is {len(text)} characters long; at most {MAX_CHORD_TEXT_CHARS}")
    symbols = split_symbols(text)
    if not symbols:
        raise InvalidInput("the chord progression is empty")
    if len(symbols) > bars:
        raise InvalidInput(f"{len(symbols)} chords were given for {bars} bars: give at most one chord per bar")
    chords: list[Chord | None] = []
    for position, symbol in enumerate(symbols, start=1):
        try:
            chords.append(parse_chord(symbol, key))
        except ValueError:
            if _ROMAN.match(symbol) and key is None:
                raise InvalidInput(f"chord {position} {symbol!r} is a Roman numeral: give a key with it") from None
            raise InvalidInput(
                f"chord {position} {symbol!r} is not a chord symbol: write e.g. C, Am, F#m7, G7/B, Bbmaj7, Dsus4 "
                f"or Roman numerals in the key (I V vi IV, ii7, bVII)") from None
    return [chords[index % len(chords)] for index in range(bars)]


def progression_text(chords: list[Chord | None]) -> str:
    return " ".join("N" if chord is None else chord.symbol() for chord in chords)


# ---- chords a clip sounds ---------------------------------------------------------------------------
def chord_of_pitches(weights: np.ndarray, bass_pitch_class: int | None = None) -> Chord | None:
    """The triad (major or minor, else diminished) that best explains a duration-weighted pitch-class
    histogram: chord tones count, other tones count against, the lowest note favours its root."""
    if weights.sum() <= 0:
        return None
    best: tuple[float, Chord] | None = None
    for quality in ("maj", "min", "dim"):
        for root in range(12):
            tones = [(root + step) % 12 for step in QUALITY_INTERVALS[quality]]
            score = weights[tones].sum() * 1.0 - 0.6 * (weights.sum() - weights[tones].sum())
            score += 0.5 * weights[root]
            if bass_pitch_class is not None and bass_pitch_class == root:
                score += 0.3 * weights.sum()
            if quality == "dim":
                score -= 0.2 * weights.sum()
            if best is None or score > best[0]:
                best = (score, Chord(root, quality))
    return best[1] if best else None


def progression_from_table(table: NoteTable, time_signature: tuple[int, int], bars: int) -> list[Chord | None]:
    """One chord per bar read from a clip's pitched notes (None for a bar with none)."""
    bar_q = bar_quarters(time_signature)
    pitched = table.select(table.program != DRUM_PROGRAM)
    chords: list[Chord | None] = []
    for bar in range(bars):
        start, end = bar * bar_q, (bar + 1) * bar_q
        overlap = np.minimum(pitched.onset_q + pitched.duration_q, end) - np.maximum(pitched.onset_q, start)
        inside = overlap > 1e-6
        if not inside.any():
            chords.append(None)
            continue
        weights = np.bincount(pitched.pitch[inside] % 12, weights=overlap[inside], minlength=12)
        bass = int(pitched.pitch[inside].min()) % 12
        chords.append(chord_of_pitches(weights, bass))
    return chords


# ---- the chord model (key-relative n-gram statistics from POP909, built by symbolic.pop909) -------
CHORD_MODEL_FILE = "chords.json"
_MODE_FAMILY = {"major": "major", "lydian": "major", "mixolydian": "major",
                "minor": "minor", "dorian": "minor", "phrygian": "minor", "locrian": "minor"}
_TONIC_QUALITY = {"major": "maj", "lydian": "maj", "mixolydian": "maj", "minor": "min", "dorian": "min",
                  "phrygian": "min", "locrian": "dim"}


def _token_chord(token: str, tonic: int) -> Chord:
    degree, quality = token.split(":")
    return Chord((tonic + int(degree)) % 12, quality)


class ChordModel:
    """Samples per-bar progressions in a key: interpolated trigram/bigram/unigram over chords written
    relative to the tonic, kept inside the key's scale, starting (mostly) and ending on the tonic with
    a dominant-like approach, so the progression itself establishes the key."""

    def __init__(self, tables: dict, meta: dict | None = None) -> None:
        self.tables = tables
        self.meta = meta or {}

    @classmethod
    def load(cls, path) -> "ChordModel":  # type: ignore[no-untyped-def]
        import json

        data = json.loads(open(path).read())
        return cls(data["tables"], data.get("meta", {}))

    def save(self, path) -> None:  # type: ignore[no-untyped-def]
        import json

        with open(path, "w") as handle:
            json.dump({"tables": self.tables, "meta": self.meta}, handle, separators=(",", ":"))

    def next_distribution(self, family: str, context: list[str], allowed: set[str] | None = None) -> dict[str, float]:
        table = self.tables[family]
        unigram = table["unigram"]
        vocabulary = [t for t in unigram if allowed is None or t in allowed]
        if not vocabulary:
            return {}

        def normalised(row: dict | None) -> dict[str, float]:
            if not row:
                return {}
            values = {t: row.get(t, 0) for t in vocabulary}
            total = sum(values.values())
            return {t: v / total for t, v in values.items()} if total else {}

        uni = normalised(unigram)
        bi = normalised(table["bigram"].get(context[-1])) if context else {}
        tri = normalised(table["trigram"].get(" ".join(context[-2:]))) if len(context) >= 2 else {}
        weights = (0.55, 0.35, 0.10) if tri else ((0.0, 0.8, 0.2) if bi else (0.0, 0.0, 1.0))
        return {t: weights[0] * tri.get(t, 0.0) + weights[1] * bi.get(t, 0.0) + weights[2] * uni.get(t, 0.0)
                for t in vocabulary}

    def _allowed(self, key: Key) -> set[str]:
        scale = key.scale_pitch_classes()
        family = _MODE_FAMILY[key.mode]
        allowed = set()
        for token in self.tables[family]["unigram"]:
            chord = _token_chord(token, key.tonic_pitch_class)
            tones = chord.pitch_classes()
            if tones <= scale or (key.mode == "minor" and token == "7:maj"):  # V in minor: the raised 7th
                allowed.add(token)
        allowed.add(f"0:{_TONIC_QUALITY[key.mode]}")
        return allowed

    def sample(self, key: Key, bars: int, rng) -> list[Chord]:  # type: ignore[no-untyped-def]
        """`bars` chords in `key` (rng: random.Random)."""
        family = _MODE_FAMILY[key.mode]
        allowed = self._allowed(key)
        tonic = f"0:{_TONIC_QUALITY[key.mode]}"
        if bars == 1:
            return [_token_chord(tonic, key.tonic_pitch_class)]

        def draw(distribution: dict[str, float]) -> str:
            items = [(t, p) for t, p in distribution.items() if p > 0]
            if not items:
                return tonic
            tokens, weights = zip(*items)
            return rng.choices(tokens, weights=weights)[0]

        tokens = [tonic if rng.random() < 0.9 else draw(self._start(family, allowed))]
        while len(tokens) < bars - 1:
            tokens.append(draw(self.next_distribution(family, tokens, allowed)))
        # the approach to the final tonic: a chord that leads to it in the data, the dominant favoured
        approach = self.next_distribution(family, tokens[:-1] + [tokens[-1]], allowed) if bars > 2 else {}
        weighted = {}
        for token, probability in approach.items():
            leads = self.next_distribution(family, [tokens[-1], token] if bars > 2 else [token], allowed).get(tonic, 0.0)
            boost = 4.0 if token in ("7:maj",) else (1.5 if token in ("5:maj", "5:min", "10:maj", "2:min") else 1.0)
            weighted[token] = probability * leads * boost * (0.2 if token == tonic else 1.0)
        if bars > 2:
            tokens[-1] = draw(weighted) if weighted else tokens[-1]
            # a perfect cadence most of the time: V-I (V-i with the raised 7th in minor) is what tells a
            # listener, and a key finder, where home is
            if "7:maj" in allowed and key.mode in ("major", "minor") and rng.random() < 0.9:
                tokens[-1] = "7:maj"
        tokens.append(tonic)
        return [_token_chord(token, key.tonic_pitch_class) for token in tokens]

    def _start(self, family: str, allowed: set[str]) -> dict[str, float]:
        start = {t: n for t, n in self.tables[family]["start"].items() if t in allowed}
        total = sum(start.values())
        return {t: n / total for t, n in start.items()} if total else {}


def key_of_progression(chords: list[Chord | None]) -> Key:
    """The major or minor key a progression most likely sits in (chord tones weighted, first and last
    chords' roots counted extra), for chords given without a key."""
    from symbolic.attributes import find_key

    pitches, weights = [], []
    present = [chord for chord in chords if chord is not None]
    for index, chord in enumerate(present):
        for pc in chord.pitch_classes():
            pitches.append(pc + 60)
            weights.append(1.0)
        pitches.append(chord.root_pitch_class + 48)
        weights.append(1.5 if index in (0, len(present) - 1) else 0.5)
    if not pitches:
        return Key(0, "major")
    found = find_key(np.array(pitches), np.array(weights), present[-1].root_pitch_class + 36)
    if found is None:
        return Key(0, "major")
    if found.mode not in ("major", "minor"):
        relative = {"dorian": "minor", "phrygian": "minor", "locrian": "minor", "lydian": "major",
                    "mixolydian": "major"}[found.mode]
        found = Key(found.tonic_pitch_class, relative)
    return found


def progression_from_midi(midi: bytes) -> tuple[str, int]:
    """The per-bar chords a MIDI clip sounds, as progression text, and its bar count (for
    `--chords-from clip.mid`). InvalidInput for unreadable MIDI or a clip without pitched notes."""
    from symbolic.midi_io import midi_to_clip

    clip = midi_to_clip(midi)
    bar_q = bar_quarters(clip.time_signature)
    pitched = clip.table.select(clip.table.program != DRUM_PROGRAM)
    if len(pitched) == 0:
        raise InvalidInput("the chords MIDI file has no pitched notes to read chords from")
    end_q = float((pitched.onset_q + pitched.duration_q).max())
    bars = max(clip.bars or 1, int(np.ceil(end_q / bar_q - 1e-6)))
    chords = progression_from_table(clip.table, clip.time_signature, bars)
    return progression_text(chords), bars
