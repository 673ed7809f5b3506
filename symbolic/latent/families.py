"""Which latent model reads a file: MusicVAE's families and how a request picks one.

Families (a request names one, or leaves it empty and the file's tracks decide):
- "melody": the 2-bar line model (symbolic/pretrained/latent), a clip read in 2-bar pieces; the track
  named, else one named like a melody, else the highest of the fullest tracks (representation.read_clip).
- "bass": the same model (it was trained on melodies and bass lines over the full MIDI range), taking the
  named track, else the lowest pitched track of the file.
- "melody_16bar", "bass_16bar": the hierarchical model (hierarchical.SectionSpace, one latent per 16 bars)
  over the same 2-bar decoder, for clips of 16, 32, 48 or 64 bars.
- "drums": the drum model (drum_space.DrumSpace; every drum track); "trio": melody + bass + drums
  (trio.TrioSpace; the melody and bass tracks named as "MELODY,BASS", else chosen by
  trio_representation.read_trio). Each is served when its checkpoint is installed.

With no family named:
- only drum tracks -> "drums";
- drums and at least two pitched tracks -> "trio" (when the trio model is there; else one line and a
  notice that the other tracks are left out);
- a request that names one track (`track`, no comma) and no family: that line;
- otherwise one line: "bass" when the line taken (named, or chosen as for "melody") sits in the bass
  register, else "melody"; and the 16-bar model instead where LONG_CLIPS_BY_SECTIONS says it serves long
  clips better and the clip lasts whole 16-bar sections.

Every choice is said in a Notice with code "model": which model read which tracks, and why.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from ostinato.errors import InvalidInput

LINE_FAMILIES = ("melody", "bass", "melody_16bar", "bass_16bar")
FAMILIES = (*LINE_FAMILIES, "drums", "trio")
BASS_REGISTER_MEAN_PITCH = 52  # as representation.BASS_REGISTER_MEAN_PITCH
# Whether a clip of whole 16-bar sections goes to the 16-bar model when the request names no family:
# chosen by the held-out measures in README ("Latent space" figures).
LONG_CLIPS_BY_SECTIONS = False


@dataclass(frozen=True)
class TrackInfo:
    index: int
    name: str
    is_drum: bool
    notes: int
    mean_pitch: float

    @property
    def label(self) -> str:
        name = self.name.strip() or ("drums" if self.is_drum else "unnamed")
        return f"{self.index} '{name}'"


def tracks_of(midi_bytes: bytes) -> list[TrackInfo]:
    """The file's tracks with notes (index as read_clip counts them). Unreadable files read as no tracks:
    the reader of the chosen family then gives the precise error."""
    import pretty_midi

    from ostinato.midi_scan import scan_midi

    if not midi_bytes:
        return []
    scan_midi(midi_bytes)
    try:
        midi = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes))
    except Exception:  # pretty_midi/mido raise many unrelated types on corrupt input; read_clip reports it
        return []
    return [TrackInfo(i, inst.name, inst.is_drum, len(inst.notes),
                      float(np.mean([n.pitch for n in inst.notes])) if inst.notes else 0.0)
            for i, inst in enumerate(midi.instruments) if inst.notes]


def check_family(family: str) -> str:
    """The canonical family name ("" for none); InvalidInput for an unknown one."""
    family = family.strip().lower().replace("-", "_")
    if family in ("", "auto"):
        return ""
    aliases = {"melody16": "melody_16bar", "bass16": "bass_16bar", "16bar": "melody_16bar", "drum": "drums"}
    family = aliases.get(family, family)
    if family not in FAMILIES:
        raise InvalidInput(f"unknown model family {family!r}: use one of {', '.join(FAMILIES)}, or leave it "
                           "empty to choose by the file's tracks")
    return family


def kind_of(tracks: list[TrackInfo], family: str, available: set[str], track: str = "") -> tuple[str, str]:
    """The family's kind for the file ("line", "drums" or "trio") and why, before the line is read.
    A request that names one track (no comma) and no family asks for that line."""
    if family:
        if family not in available and family not in LINE_FAMILIES:
            raise InvalidInput(f"the {family} model is not installed on this server: use one of "
                               f"{', '.join(sorted(available | set(LINE_FAMILIES)))}")
        kind = family if family in ("drums", "trio") else "line"
        return kind, "named in the request"
    if track.strip() and "," not in track:
        return "line", "one track named in the request"
    pitched = [t for t in tracks if not t.is_drum]
    drums = [t for t in tracks if t.is_drum]
    if drums and not pitched and "drums" in available:
        return "drums", "the file holds only drums"
    if drums and len(pitched) >= 2 and "trio" in available:
        return "trio", "the file holds pitched tracks and drums (an arrangement)"
    return "line", ""  # the line's own reason (its register, its length) is given by line_family


def lowest_track(tracks: list[TrackInfo]) -> TrackInfo | None:
    pitched = [t for t in tracks if not t.is_drum]
    return min(pitched, key=lambda t: t.mean_pitch) if pitched else None


def line_family(family: str, mean_pitch: float, bars: int, sections_readable: bool) -> tuple[str, str]:
    """The line family for a line already read, and why."""
    if family:
        return family, "named in the request"
    base = "bass" if mean_pitch < BASS_REGISTER_MEAN_PITCH else "melody"
    why = "the line sits in the bass register" if base == "bass" else "the line sits above the bass register"
    if LONG_CLIPS_BY_SECTIONS and sections_readable:
        return f"{base}_16bar", f"{why}, and its {bars} bars are whole 16-bar sections"
    return base, why
