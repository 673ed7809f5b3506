"""Drumify: a drum part for an existing clip that follows the clip's own rhythm.

Each bar of the clip is read on a sixteenth grid. A groove from the library (symbolic.drums) for the
bar's meter gives the style (the backbeat, the hi-hat figure); the clip's onsets decide where the kick
and hats actually play: the kick doubles the bass line's onsets and the strongest onsets of the bar,
the hats ride the clip's onsets (eighths where the clip is busy), the snare keeps the groove's
backbeat. The drums go into the user's file as a new track; nothing else in it changes.
"""

from __future__ import annotations

import numpy as np

from ostinato.errors import InvalidInput
from symbolic.drums import (CLOSED_HAT, CRASH, GROOVES, KICK, SIDE_STICK, SNARE, STYLE_TO_GROOVE, grooves_for,
                            steps_per_bar)
from symbolic.midi_file import DRUM_CHANNEL, MidiEventFile, NewNote, Part, _Event

BASS_REGISTER_HIGHEST_PITCH = 55  # notes at or below this (G3) count as the bass line
_VELOCITY = {"X": 108, "x": 88, "o": 45}


def _onset_weights(song: MidiEventFile, start_tick: int, end_tick: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Per sixteenth step of one bar: how many pitched notes start there, and how many bass notes."""
    all_onsets = np.zeros(steps)
    bass_onsets = np.zeros(steps)
    step_ticks = (end_tick - start_tick) / steps
    for note in song.live_notes():
        if note.channel == DRUM_CHANNEL or not start_tick <= note.start_tick < end_tick:
            continue
        step = min(steps - 1, int(round((note.start_tick - start_tick) / step_ticks)))
        all_onsets[step] += 1
        if note.pitch <= BASS_REGISTER_HIGHEST_PITCH:
            bass_onsets[step] += 1
    return all_onsets, bass_onsets


def known_styles() -> list[str]:
    """The groove styles of the library and the tune styles that map to one of them."""
    return sorted({g.style for g in GROOVES} | set(STYLE_TO_GROOVE))


def drumify(midi: bytes, style: str | None = None, seed: int = 1, *, drums_only: bool = False) -> bytes:
    """The clip with a drum track that follows its rhythm (the file's other events unchanged).

    Args:
        midi: Standard MIDI File bytes with pitched notes.
        style: a groove style of the library ("rock", "pop", "reel", "jig", ...); None: the meter's first.
        seed: chooses among the meter's grooves (1: the first).
        drums_only: return the drum track alone, with the file's tempo map, meters and key signatures
            in a conductor track (type 1), instead of the whole file with the drums added.
    """
    song = MidiEventFile.from_bytes(midi, "MIDI file")
    if not any(n.channel != DRUM_CHANNEL for n in song.notes):
        raise InvalidInput("the MIDI file has no pitched notes to follow")
    channel = song.free_channel(drums=True)
    bar_map = song.bars()
    notes: list[NewNote] = []
    for bar in range(len(bar_map)):
        meter = tuple(bar_map.meter[bar])
        grooves = grooves_for(meter, style) or grooves_for(meter, None)
        if not grooves:
            raise InvalidInput(f"bar {bar} is in {meter[0]}/{meter[1]}: no drum groove for that meter")
        groove = grooves[(seed - 1) % len(grooves)]  # one groove for the whole clip
        steps = steps_per_bar(meter)
        start, end = int(bar_map.start_tick[bar]), int(bar_map.end_tick[bar])
        if end - start < steps:
            continue
        onsets, bass = _onset_weights(song, start, end, steps)
        if not onsets.any():
            continue  # a silent bar stays silent
        step_ticks = (end - start) / steps
        beat_steps = 4 * 4 // meter[1] if meter[1] <= 4 else 2 * 3  # a beat: quarter, or dotted quarter in x/8
        hits: dict[int, list[tuple[int, int]]] = {}
        pattern = {key: line for key, line in groove.steps.items()}
        kick_line = pattern.get(KICK, "X" + "." * (steps - 1))
        backbeat = pattern.get(SNARE) or pattern.get(SIDE_STICK) or ""
        hat_line = pattern.get(CLOSED_HAT) or ("x." * steps)[:steps]
        busy = np.count_nonzero(onsets) > steps // 2
        strongest = set(np.argsort(-onsets, kind="stable")[:2].tolist())
        for step in range(steps):
            on_beat = step % beat_steps == 0
            kick = (bass[step] > 0 and step % 2 == 0) or (kick_line[step] in "Xx" and onsets[step] > 0) or (
                step == 0 and onsets[0] > 0) or (step in strongest and on_beat and onsets[step] > 0)
            if kick:
                hits.setdefault(step, []).append((KICK, 104 if step == 0 else 92))
            if step < len(backbeat) and backbeat[step] in "Xx":
                hits.setdefault(step, []).append((SNARE, _VELOCITY[backbeat[step]]))
            hat = (onsets[step] > 0 and step % 2 == 0) or (busy and step % 2 == 0) or (hat_line[step] in "Xx" and (
                onsets[step] > 0 or on_beat))
            if hat:
                hits.setdefault(step, []).append((CLOSED_HAT, 78 if on_beat else 62))
        if bar > 0 and bar % 8 == 0:
            hits.setdefault(0, []).append((CRASH, 100))
        for step, drums in hits.items():
            tick = start + int(round(step * step_ticks))
            for pitch, velocity in drums:
                notes.append(NewNote(tick, tick + max(1, int(step_ticks)), pitch, velocity))
    track = song.add_track("drums", channel, 0)
    song.add_notes(Part(track, channel), notes)
    if drums_only:
        return _drum_track_alone(song, track)
    return song.to_bytes()


def _drum_track_alone(song: MidiEventFile, drum_track: int) -> bytes:
    """A type 1 file: the song's tempo, meter and key events, then the drum track."""
    conductor = [_Event(e.tick, e.message) for index, events in enumerate(song.tracks) if index != drum_track
                 for e in events if e.message.type in ("set_tempo", "time_signature", "key_signature")]
    conductor.sort(key=lambda e: e.tick)
    alone = MidiEventFile(song.ticks_per_quarter, 1, [conductor, song.tracks[drum_track]])
    return alone.to_bytes(end_tick=max((e.tick for events in song.tracks for e in events), default=0))
