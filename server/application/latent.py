"""Vary and Interpolate through the latent space: the checks and conversions every caller shares.

The Composer service (server/services/latent.py) and the bridge's clip factory both build their latent
work from these, so a Vary means the same thing whichever way it arrives.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from ostinato.errors import InvalidInput, LimitExceeded
from server.settings import Limits, Settings

if TYPE_CHECKING:
    from symbolic.composer import Generated
    from symbolic.latent.representation import MelodyClip, Notice
    from symbolic.latent.space import Decoding

# The latent model's decoder has 130 output classes (128 pitches, note-off, no event).
MAX_TOP_K = 130


def check_vary(num_variations: int, similarity_distance: float, limits: Limits) -> None:
    """LimitExceeded above limits.max_variations; InvalidInput for 0 variations or a distance outside 0-1."""
    if num_variations > limits.max_variations:
        raise LimitExceeded("num_variations", num_variations, limits.max_variations)
    if num_variations < 1:
        raise InvalidInput(f"num_variations is 0: ask for 1-{limits.max_variations} variations")
    if not 0.0 <= similarity_distance <= 1.0:
        raise InvalidInput(f"similarity_distance {similarity_distance:g} is out of range: use 0-1")


def check_interpolate(steps: int, limits: Limits) -> None:
    """LimitExceeded above limits.max_interpolation_steps; InvalidInput below 2 (the two endpoints)."""
    if steps > limits.max_interpolation_steps:
        raise LimitExceeded("interpolation steps", steps, limits.max_interpolation_steps)
    if steps < 2:
        raise InvalidInput(f"steps is {steps}: ask for 2-{limits.max_interpolation_steps} clips "
                           "(the two endpoints and the blends between them)")


def total_shifts(shifts: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Attribute -> summed amount in standard deviations (a shift named twice adds up)."""
    total: dict[str, float] = {}
    for attribute, amount in shifts:
        total[attribute] = total.get(attribute, 0.0) + float(amount)
    return total


def resolve_seed(seed: int) -> int:
    """The request's seed, or a fresh one for 0 (it is reported back with the clips)."""
    return int(seed) if seed else secrets.randbelow(2**31) + 1


def decoding(seed: int, temperature: float, top_k: int) -> "Decoding":
    """How latents become notes; InvalidInput for a top_k beyond the model's classes."""
    from symbolic.latent.space import Decoding

    if top_k > MAX_TOP_K:
        raise InvalidInput(f"top_k {top_k} is more than the model's {MAX_TOP_K} classes")
    return Decoding(temperature=float(temperature), top_k=int(top_k), seed=int(seed) % (2**63))


def melody_result(clip: "MelodyClip", seed: int) -> "Generated":
    """A decoded melody clip as the Composer reports its clips: MIDI bytes, the clip, what was asked for
    (meter, tempo, bars, instrument) and what the shared extractor measures on it."""
    from symbolic.latent.representation import clip_to_midi

    return midi_result(clip_to_midi(clip), clip, [int(clip.program)], seed)


def midi_result(midi: bytes, clip: Any, programs: list[int], seed: int) -> "Generated":
    """A decoded clip of any family (its MIDI bytes, meter, tempo, bars and GM programs, -1 for drums) as
    the Composer reports its clips, with what the shared extractor measures on it."""
    from symbolic import midi_io
    from symbolic.attributes import Attributes, extract
    from symbolic.composer import Generated

    time_signature = (clip.time_signature.numerator, clip.time_signature.denominator)
    parsed = midi_io.midi_to_clip(midi)
    parsed.bars = clip.num_bars
    measured = extract(parsed.table, time_signature, clip.tempo_bpm, bars=clip.num_bars)
    requested = Attributes(instruments=programs, time_signature=time_signature,
                           tempo_bpm=float(clip.tempo_bpm), bars=clip.num_bars)
    return Generated(clip=parsed, midi=midi, requested=requested, measured=measured, seed=seed)


def family_result(family: str, clip: Any, seed: int) -> "Generated":
    """A decoded clip of `family` as a Generated (see midi_result)."""
    from symbolic.attributes import DRUM_PROGRAM

    if family == "drums":
        from symbolic.latent.drum_representation import drum_clip_to_midi

        return midi_result(drum_clip_to_midi(clip), clip, [DRUM_PROGRAM], seed)
    if family == "trio":
        from symbolic.latent.trio_representation import trio_to_midi

        return midi_result(trio_to_midi(clip), clip, [int(clip.melody.program), int(clip.bass.program),
                                                      DRUM_PROGRAM], seed)
    return melody_result(clip, seed)


# -- which model reads a request (symbolic.latent.families) -----------------------------------------------

MODEL_LABELS = {
    "melody": "the 2-bar melody/bass model (read in 2-bar pieces)",
    "bass": "the 2-bar melody/bass model (read in 2-bar pieces)",
    "melody_16bar": "the 16-bar hierarchical model (one latent per 16 bars)",
    "bass_16bar": "the 16-bar hierarchical model (one latent per 16 bars)",
    "drums": "the 2-bar drum model (9 kit pieces, read in 2-bar pieces)",
    "trio": "the trio model (melody, bass and drums together)",
}


MODEL_LINE_FAMILIES = ("melody", "bass", "melody_16bar", "bass_16bar")


@dataclass(frozen=True)
class LatentInput:
    """One input file as a latent model reads it: the family, the clip, and what the reading said."""

    family: str
    clip: Any  # MelodyClip for the line families
    notices: tuple["Notice", ...]
    tracks: str  # the tracks read, e.g. "1 'Bass'"


def available_families(settings: Settings) -> set[str]:
    """Families this server can serve (the line families always; the 16-bar one when its checkpoint is
    there)."""
    families = {"melody", "bass"}
    if (settings.latent_section_model_dir / "config.json").exists():
        families |= {"melody_16bar", "bass_16bar"}
    if (settings.latent_drums_model_dir / "config.json").exists():
        families.add("drums")
        if (settings.latent_trio_model_dir / "config.json").exists():
            families.add("trio")
    return families


def space_for(family: str, settings: Settings):  # type: ignore[no-untyped-def]
    """The loaded model of a family (MissingAsset -> FAILED_PRECONDITION when absent)."""
    from server.application.models import MODELS

    if family in ("melody_16bar", "bass_16bar"):
        return MODELS.section_space(settings)
    if family == "drums":
        return MODELS.drum_space(settings)
    if family == "trio":
        return MODELS.trio_space(settings)
    return MODELS.latent_space(settings)


def read_input(what: str, data: bytes, settings: Settings, family: str = "", track: str = "") -> LatentInput:
    """Reads one request file for the family named (or chosen by its tracks, see families.py); errors
    name the field (`what`). The notices say which model reads which tracks and what was left out."""
    from symbolic.latent import families
    from symbolic.latent.representation import Notice, read_clip

    family = families.check_family(family)
    available = available_families(settings)
    chosen_track: str | int | None = track.strip() or None
    wants_lowest = family in ("bass", "bass_16bar") and chosen_track is None
    # the tracks are looked at only when they decide something (parsing costs ~2 ms a file)
    needs_tracks = wants_lowest or (not family and ("," in track or chosen_track is None)
                                    and bool(available & {"drums", "trio"}))
    tracks = families.tracks_of(data) if needs_tracks else []
    try:
        kind, why = families.kind_of(tracks, family, available, track)
        if kind == "drums":
            return _read_drums(data, settings, tracks, why)
        if kind == "trio":
            return _read_trio(data, settings, track, why)
        if kind != "line":
            raise InvalidInput(f"the {kind} model is not installed on this server")
        chose_lowest = wants_lowest and len(tracks) > 1
        if chose_lowest:
            lowest = families.lowest_track(tracks)
            chosen_track = lowest.index if lowest is not None else None
        read = read_clip(data, max_bars=settings.limits.max_bars, track=chosen_track)
    except InvalidInput as error:
        raise InvalidInput(f"{what}: {error}") from error
    notices = list(read.notices)
    if "trio" in available:  # read_clip's "no trio model yet" is not so here: the line was asked for
        notices = [n for n in notices if n.code != "no_trio_model"]
    label = f"{read.track_index} '{read.track_name.strip() or 'unnamed'}'"
    if chose_lowest:
        left_out = [t.label for t in tracks if t.index != read.track_index]
        notices = [n for n in notices if n.code != "track_taken"]
        notices.insert(0, Notice("track_taken", f"took track {label} (the lowest pitched track, for the bass "
                                                f"model); left out {', '.join(left_out)}: name another with "
                                                "track=NAME|INDEX"))
    clip = read.clip
    pitches = clip.tokens[clip.tokens < 128]
    sections = "melody_16bar" in available and clip.num_bars >= 16 and clip.num_bars % 16 == 0
    chosen, reason = families.line_family(family, float(pitches.mean()) if len(pitches) else 60.0,
                                          clip.num_bars, sections)
    if chosen not in available:
        raise InvalidInput(f"{what}: the {chosen} model is not installed on this server")
    if chosen.endswith("_16bar") and not (clip.num_bars >= 16 and clip.num_bars % 16 == 0):
        raise InvalidInput(f"{what}: the 16-bar model reads clips of 16, 32, 48 or 64 bars; this one has "
                           f"{clip.num_bars}: use family melody or bass")
    reasons = reason if not why or why == reason else f"{reason}; {why}"
    notices.insert(0, Notice("model", f"{MODEL_LABELS[chosen]} read track {label}, {clip.num_bars} bars "
                                      f"({reasons})"))
    return LatentInput(chosen, clip, tuple(notices), label)


def _read_drums(data: bytes, settings: Settings, tracks: list, why: str) -> LatentInput:
    from symbolic.latent.drum_representation import read_drum_clip
    from symbolic.latent.representation import Notice

    read = read_drum_clip(data, max_bars=settings.limits.max_bars)
    drum_tracks = ", ".join(t.label for t in tracks if t.is_drum) or "the drum tracks"
    notice = Notice("model", f"{MODEL_LABELS['drums']} read {drum_tracks}, {read.clip.num_bars} bars ({why})")
    return LatentInput("drums", read.clip, (notice, *read.notices), drum_tracks)


def _read_trio(data: bytes, settings: Settings, track: str, why: str) -> LatentInput:
    """track: "MELODY,BASS" (names or zero-based indexes; either may be empty) picks the trio's lines."""
    from symbolic.latent.representation import Notice
    from symbolic.latent.trio_representation import read_trio

    names = [part.strip() or None for part in track.split(",")] if track.strip() else []
    if len(names) > 2:
        raise InvalidInput(f"track {track!r}: the trio model takes at most two tracks, MELODY,BASS (the drums "
                           "are every drum track)")
    melody_track, bass_track = (names + [None, None])[:2]
    read = read_trio(data, max_bars=settings.limits.max_bars, melody_track=melody_track, bass_track=bass_track)
    melody, bass = read.track_indexes
    notice = Notice("model", f"{MODEL_LABELS['trio']} read track {melody} as the melody, track {bass} as the "
                             f"bass and every drum track, {read.clip.num_bars} bars ({why})")
    return LatentInput("trio", read.clip, (notice, *read.notices), f"{melody}, {bass} and the drums")


def check_shifts(family: str, space: Any, clip: Any, shifts: dict[str, float]) -> None:
    """InvalidInput, before any work, for shifts the family's model does not offer."""
    if not shifts:
        return
    if family in ("drums", "trio"):
        raise InvalidInput(f"the {family} model has no attribute shifts (asked: {', '.join(shifts)}); "
                           "shifts are offered by the melody and bass models")
    space.shift_clip(clip, shifts)


def pair_family(start: LatentInput, end: LatentInput, named: str) -> tuple[str, list["Notice"]]:
    """The one family both ends of an interpolation go through, and a notice when it differs from how
    one end was read on its own."""
    from symbolic.latent.representation import Notice

    kinds = [("line" if f in MODEL_LINE_FAMILIES else f) for f in (start.family, end.family)]
    if kinds[0] != kinds[1]:
        raise InvalidInput(f"start_midi is read by the {start.family} model and end_midi by the {end.family} "
                           "model: interpolate two files of the same kind, or name one family for both")
    if named:
        return start.family, []
    sections = {start.family.endswith("_16bar"), end.family.endswith("_16bar")}
    if sections == {True}:
        return start.family, []
    if sections == {True, False}:
        return "melody", [Notice("model", "one end is not whole 16-bar sections: both ends go through the 2-bar "
                                          "model, in 2-bar pieces")]
    return start.family, []
