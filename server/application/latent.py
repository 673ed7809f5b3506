"""Vary and Interpolate through the latent space: the checks and conversions every caller shares.

The Composer service (server/services/latent.py) and the bridge's clip factory both build their latent
work from these, so a Vary means the same thing whichever way it arrives.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Iterable

from ostinato.errors import InvalidInput, LimitExceeded
from server.settings import Limits

if TYPE_CHECKING:
    from symbolic.composer import Generated
    from symbolic.latent.representation import MelodyClip
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
    from symbolic import midi_io
    from symbolic.attributes import Attributes, extract
    from symbolic.composer import Generated
    from symbolic.latent.representation import clip_to_midi

    midi = clip_to_midi(clip)
    time_signature = (clip.time_signature.numerator, clip.time_signature.denominator)
    parsed = midi_io.midi_to_clip(midi)
    parsed.bars = clip.num_bars
    measured = extract(parsed.table, time_signature, clip.tempo_bpm, bars=clip.num_bars)
    requested = Attributes(instruments=[int(clip.program)], time_signature=time_signature,
                           tempo_bpm=float(clip.tempo_bpm), bars=clip.num_bars)
    return Generated(clip=parsed, midi=midi, requested=requested, measured=measured, seed=seed)
