"""Trios (melody + bass + drums, MusicVAE's trio family) on the latent grids, to and from MIDI files.

A trio is three clips of one meter, tempo and length: a melody and a bass line on the line grid
(representation.MelodyClip, each with its program) and the drums on the drum grid
(drum_representation.DrumClip). trio_to_midi writes three tracks in that order: "melody" and "bass" with
their programs, and "drums" on channel 10.

read_trio takes from a file:
- drums: every drum track (channel 10), merged (drum_representation.drum_hits);
- melody: the track named (melody_track=NAME|INDEX), else one named like a melody (melody, lead, vocal,
  ...), else the highest pitched track (by mean pitch) other than the bass;
- bass: the track named (bass_track=...), else one named "bass" or with a GM bass program (32-39), else
  the lowest pitched track.
A file without drums or with fewer than two pitched tracks is InvalidInput (the error says what it has).
What is left out or changed is said in Notices: other pitched tracks, chords cut to one voice (the top
note of the melody, the lowest of the bass), drum keys merged or dropped, onsets moved to the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ostinato.errors import InvalidInput
from symbolic.latent.drum_representation import DrumClip, add_drum_track, drum_hits, hits_to_grid
from symbolic.latent.representation import (MAX_CLIP_BARS, MELODY_NAMES, MelodyClip, Notice, TimeSignature,
                                            _find_track, _track_label, add_line_track, line_notes, midi_bytes,
                                            new_midi, notes_to_grid, open_midi)

PARTS = ("melody", "bass", "drums")
BASS_PROGRAMS = range(32, 40)


@dataclass(frozen=True)
class TrioClip:
    melody: MelodyClip
    bass: MelodyClip
    drums: DrumClip

    def __post_init__(self) -> None:
        if not (self.melody.num_steps == self.bass.num_steps == self.drums.num_steps):
            raise ValueError("the three parts of a trio must have the same length")

    @property
    def time_signature(self) -> TimeSignature:
        return self.melody.time_signature

    @property
    def tempo_bpm(self) -> float:
        return self.melody.tempo_bpm

    @property
    def num_steps(self) -> int:
        return self.melody.num_steps

    @property
    def num_bars(self) -> int:
        return self.melody.num_bars

    def parts(self) -> tuple[MelodyClip, MelodyClip, DrumClip]:
        return self.melody, self.bass, self.drums


@dataclass(frozen=True)
class ReadTrio:
    clip: TrioClip
    track_indexes: tuple[int, int]  # melody, bass
    notices: tuple[Notice, ...]


def _mean_pitch(instrument) -> float:
    return float(np.mean([n.pitch for n in instrument.notes]))


def _choose_parts(instruments: list, melody_track, bass_track) -> tuple[int, str, int, str]:
    """Indexes of the melody and bass tracks, and why each was taken (see the module docstring)."""
    pitched = [i for i, inst in enumerate(instruments) if not inst.is_drum and inst.notes]
    labels = ", ".join(_track_label(i, inst) for i, inst in enumerate(instruments) if inst.notes)
    if len(pitched) < 2 and (melody_track is None or bass_track is None):
        raise InvalidInput(f"the trio model needs a melody, a bass line and drums, but the file has "
                           f"{len(pitched)} pitched track{'s' if len(pitched) != 1 else ''} ({labels}): use the "
                           "melody, bass or drum model for a single part")
    bass, why_bass = None, ""
    if bass_track is not None and str(bass_track).strip():
        bass, why_bass = _find_track(instruments, bass_track), "named in the request"
    melody, why_melody = None, ""
    if melody_track is not None and str(melody_track).strip():
        melody, why_melody = _find_track(instruments, melody_track), "named in the request"
    if bass is None:
        candidates = [i for i in pitched if i != melody]
        named = [i for i in candidates if "bass" in instruments[i].name.lower()
                 or instruments[i].program in BASS_PROGRAMS]
        if named:
            bass, why_bass = named[0], "its name or program marks it as the bass"
        else:
            bass = min(candidates, key=lambda i: _mean_pitch(instruments[i]))
            why_bass = "the lowest pitched track"
    if melody is None:
        candidates = [i for i in pitched if i != bass]
        named = [i for i in candidates if any(word in instruments[i].name.lower() for word in MELODY_NAMES)]
        if named:
            melody, why_melody = named[0], "its name marks it as the melody"
        else:
            melody = max(candidates, key=lambda i: _mean_pitch(instruments[i]))
            why_melody = "the highest pitched track"
    if melody == bass:
        raise InvalidInput(f"the melody and the bass are the same track {_track_label(melody, instruments[melody])}: "
                           "name two different tracks")
    return melody, why_melody, bass, why_bass


def read_trio(midi_bytes_: bytes, max_bars: int = MAX_CLIP_BARS, melody_track: str | int | None = None,
              bass_track: str | int | None = None) -> ReadTrio:
    """Reads a melody, a bass line and the drums of a file onto the grids (see the module docstring).
    Raises InvalidInput for unreadable files or files that do not hold a trio, LimitExceeded above max_bars."""
    opened = open_midi(midi_bytes_)
    instruments = opened.midi.instruments
    melody_index, why_melody, bass_index, why_bass = _choose_parts(instruments, melody_track, bass_track)
    hits, drum_notices = drum_hits(opened)
    notices = list(opened.notices)
    notices.append(Notice("trio_tracks", f"melody: track {_track_label(melody_index, instruments[melody_index])} "
                                         f"({why_melody}); bass: track {_track_label(bass_index, instruments[bass_index])} "
                                         f"({why_bass}); drums: every drum track"))
    left_out = [_track_label(i, inst) for i, inst in enumerate(instruments)
                if i not in (melody_index, bass_index) and not inst.is_drum and inst.notes]
    if left_out:
        notices.append(Notice("tracks_left_out", f"left out {', '.join(left_out)}: the trio model reads one "
                                                 "melody, one bass line and the drums; name others with "
                                                 "melody_track / bass_track"))
    lines, off_grid, total = {}, 0, 0
    for part, index in (("melody", melody_index), ("bass", bass_index)):
        notes, off = line_notes(opened, instruments[index])
        lines[part] = notes
        off_grid += off
        total += len(notes)
        starts = [start for _, start, _ in notes]
        chords = len(starts) - len(set(starts))
        if chords:
            notices.append(Notice("chords_reduced", f"{chords} chord notes in the {part} track "
                                                    f"{_track_label(index, instruments[index])} left out: the "
                                                    f"{part} keeps its {'top' if part == 'melody' else 'lowest'} "
                                                    "note"))
    if off_grid:
        notices.append(Notice("off_grid_onsets", f"{off_grid} of {total} melody and bass onsets fall between "
                                                 "sixteenth notes and were moved to the nearest sixteenth"))
    notices.extend(drum_notices)
    starts = [s for notes in lines.values() for _, s, _ in notes] + [step for _, step in hits]
    ends = [e for notes in lines.values() for _, _, e in notes] + [step + 1 for _, step in hits]
    num_steps = opened.num_bars(starts, ends, max_bars) * opened.time_signature.steps_per_bar
    meter, tempo = opened.time_signature, opened.tempo_bpm
    melody = MelodyClip(notes_to_grid(lines["melody"], num_steps), meter, tempo, instruments[melody_index].program)
    bass = MelodyClip(notes_to_grid(lines["bass"], num_steps, keep_lowest=True), meter, tempo,
                      instruments[bass_index].program)
    drums = DrumClip(hits_to_grid(hits, num_steps), meter, tempo)
    return ReadTrio(TrioClip(melody, bass, drums), (melody_index, bass_index), tuple(notices))


def trio_to_midi(clip: TrioClip) -> bytes:
    """A type-1 Standard MIDI File with three tracks: melody, bass (with their programs), drums (channel 10)."""
    midi = new_midi(clip.time_signature, clip.tempo_bpm, clip.num_steps)
    add_line_track(midi, clip.melody, "melody")
    add_line_track(midi, clip.bass, "bass")
    add_drum_track(midi, clip.drums)
    return midi_bytes(midi)
