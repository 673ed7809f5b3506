"""The arrangement as the application sees it: a piece's form, its tracks and where each track's notes
come from. Built by `loader.load_arrangement` from a TOML file (or by hand); plain dataclasses, no I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from symbolic.attributes import Key

# Where a track's notes come from.
SOURCE_COMPOSE = "compose"  # written by the Composer, with the previous section as context
SOURCE_MIDI = "midi"  # a given MIDI clip, looped to the section's length
SOURCE_AUDIO = "audio"  # a WAV/FLAC melody, transcribed (basic-pitch) and quantised to the grid
SOURCE_GROOVE = "groove"  # drums from the groove library, with fills at section ends
SOURCE_DRUMIFY = "drumify"  # drums that follow named tracks' rhythm (symbolic.groove.drumify)
SOURCE_MELODY_AUDIO = "melody_audio"  # an audio layer from the MelodyGenerator, conditioned on one track
SOURCE_ACCOMPANIST = "accompanist"  # an audio layer from the Accompanist (drums or backing for tracks)
SOURCES = (SOURCE_COMPOSE, SOURCE_MIDI, SOURCE_AUDIO, SOURCE_GROOVE, SOURCE_DRUMIFY, SOURCE_MELODY_AUDIO,
           SOURCE_ACCOMPANIST)
NOTE_SOURCES = (SOURCE_COMPOSE, SOURCE_MIDI, SOURCE_AUDIO, SOURCE_GROOVE, SOURCE_DRUMIFY)
AUDIO_LAYER_SOURCES = (SOURCE_MELODY_AUDIO, SOURCE_ACCOMPANIST)

ACCOMPANIST_PARTS = ("drums", "backing")

VARIATION_INFILL = "infill"  # the last bars of the chosen tracks are written again
VARIATION_LATENT = "latent"  # the melody is moved in the latent space (symbolic.latent)
VARIATION_METHODS = (VARIATION_INFILL, VARIATION_LATENT)


@dataclass(frozen=True)
class TrackSpec:
    """One track of the piece.

    Args:
        name: unique name (stem file, MIDI track name, references from sections).
        program: GM program 0-127, or -1 for drums.
        source: one of SOURCES.
        file: the file named in the arrangement (midi/audio sources).
        data: that file's bytes (read by the loader; part of the cache key).
        midi_track: which track of a multi-track MIDI file (0-based, among tracks with notes).
        follow_key: transpose a given clip from the piece's key into each section's key.
        style: groove style ("rock", "pop", "waltz"...) for groove and drumify drums.
        text: text prompt of a melody audio layer.
        of: the tracks a drumify track follows or an audio layer hears (empty: every pitched note track).
        part: what an accompanist layer plays ("drums" or "backing").
    """

    name: str
    program: int
    source: str = SOURCE_COMPOSE
    file: str | None = None
    data: bytes | None = field(default=None, repr=False)
    midi_track: int | None = None
    follow_key: bool = True
    style: str | None = None
    text: str = ""
    of: tuple[str, ...] = ()
    part: str | None = None

    @property
    def is_audio_layer(self) -> bool:
        return self.source in AUDIO_LAYER_SOURCES

    def fingerprint(self) -> dict:
        """What determines this track's notes, as JSON-able data (file content by hash)."""
        described = {k: v for k, v in asdict(self).items() if k != "data"}
        described["data_sha256"] = hashlib.sha256(self.data).hexdigest() if self.data is not None else None
        return described


@dataclass(frozen=True)
class Variation:
    """How a varied repeat differs from its source section.

    Args:
        method: "infill" (the last `amount` of the bars written again) or "latent" (the melody moved by
            `amount` towards a random point of the latent space: 0 = the same, 1 = unrelated).
        amount: 0-1.
        tracks: the tracks that change; default the melody tracks (all composed tracks if none).
    """

    method: str = VARIATION_INFILL
    amount: float = 0.25
    tracks: tuple[str, ...] = ()


@dataclass(frozen=True)
class SectionSpec:
    """One section of the form, with everything inherited already resolved.

    Args:
        name: unique name (MIDI marker, references from later sections).
        bars: length in bars.
        key, tempo_bpm, time_signature: resolved (inherited from the previous section unless given).
        tracks: names of the tracks that play in this section, in the arrangement's track order.
        density: 0-1 rhythm intensity asked for the composed tracks (None: the model chooses).
        chords: one chord symbol per bar (or fewer, repeated), when asked for.
        repeat: the earlier section whose material this one repeats exactly (then transposed).
        vary: the earlier section this one repeats with a variation.
        variation: how it varies.
        transpose: semitones applied to a repeat or variation.
        fill: a drum fill in the last bar (groove drums).
        key_given: the key was written in this section (a key change), not inherited.
    """

    name: str
    bars: int
    key: Key
    tempo_bpm: float
    time_signature: tuple[int, int]
    tracks: tuple[str, ...]
    density: float | None = None
    chords: tuple[str, ...] = ()
    repeat: str | None = None
    vary: str | None = None
    variation: Variation | None = None
    transpose: int = 0
    fill: bool = True
    key_given: bool = False

    @property
    def source_section(self) -> str | None:
        return self.repeat or self.vary

    def fingerprint(self) -> dict:
        described = asdict(self)
        described["key"] = str(self.key)
        return described


@dataclass(frozen=True)
class Arrangement:
    """A whole piece: global settings, tracks and sections in playing order."""

    title: str
    seed: int
    key: Key
    tempo_bpm: float
    tracks: tuple[TrackSpec, ...]
    sections: tuple[SectionSpec, ...]
    context_bars: int = 4
    source_name: str = "arrangement.toml"

    def track(self, name: str) -> TrackSpec:
        for track in self.tracks:
            if track.name == name:
                return track
        raise KeyError(name)

    def section(self, name: str) -> SectionSpec:
        for section in self.sections:
            if section.name == name:
                return section
        raise KeyError(name)

    @property
    def total_bars(self) -> int:
        return sum(section.bars for section in self.sections)


def digest(*parts: object) -> str:
    """A short stable hash of JSON-able parts (cache keys)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
