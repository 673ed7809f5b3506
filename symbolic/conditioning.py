"""Attributes -> the discrete levels and prefix tokens the model is conditioned on."""

from __future__ import annotations

from dataclasses import dataclass

from symbolic.attributes import (
    Attributes,
    Key,
    MAX_BARS_TOKEN,
    density_level,
    polyphony_level,
    range_level,
    tempo_level,
)
from symbolic.tokenizer import Vocabulary, program_order

# Prefix order. Unspecified groups are sampled by the model in this order, each conditioned on the
# groups before it.
PREFIX_GROUPS = ("style", "time_signature", "key", "tempo", "bars", "range", "density", "polyphony")


@dataclass
class Levels:
    """One value per prefix group; None = let the model choose."""

    style: str | None = None
    time_signature: tuple[int, int] | None = None
    key: Key | None = None
    tempo: int | None = None
    bars: int | None = None
    range: int | None = None
    density: int | None = None
    polyphony: int | None = None
    programs: list[int] | None = None


def levels_of(attributes: Attributes) -> Levels:
    """Levels of measured attributes (every field of a measured clip is known)."""
    density = attributes.extra.get("onsets_per_quarter")
    return Levels(
        style=attributes.style,
        time_signature=attributes.time_signature,
        key=attributes.key,
        tempo=None if attributes.tempo_bpm is None else tempo_level(attributes.tempo_bpm),
        bars=attributes.bars,
        range=None if attributes.pitch_range_octaves is None else range_level(attributes.pitch_range_octaves),
        density=None if density is None else density_level(density),
        polyphony=None if attributes.polyphony is None else polyphony_level(attributes.polyphony),
        programs=None if attributes.instruments is None else program_order(attributes.instruments),
    )


def group_token(vocab: Vocabulary, group: str, levels: Levels) -> int | None:
    """The token for a group's value, or None when the value is unspecified."""
    value = getattr(levels, group)
    if value is None:
        return None
    if group == "style":
        return vocab.style.get(value, vocab.style["folk"])
    if group == "time_signature":
        return vocab.time_signature[tuple(value)]
    if group == "key":
        return vocab.key[(value.tonic_pitch_class, value.mode)]
    if group == "tempo":
        return vocab.tempo_level[value]
    if group == "bars":
        return vocab.bars_token(value)
    if group == "range":
        return vocab.range_level[value]
    if group == "density":
        return vocab.density_level[value]
    if group == "polyphony":
        return vocab.polyphony_level[value]
    raise KeyError(group)


def group_choices(vocab: Vocabulary, group: str) -> list[int]:
    """Every token of a group (what the model may choose from when the value is unspecified)."""
    table = {
        "style": vocab.style, "time_signature": vocab.time_signature, "key": vocab.key,
        "tempo": vocab.tempo_level, "range": vocab.range_level, "density": vocab.density_level,
        "polyphony": vocab.polyphony_level,
    }
    if group == "bars":
        return [vocab.bars[b] for b in range(1, MAX_BARS_TOKEN + 1)]
    return sorted(table[group].values())


def full_prefix(vocab: Vocabulary, levels: Levels) -> list[int]:
    """BOS + every group + programs + CondEnd, for fully known levels (training)."""
    ids = [vocab.bos]
    for group in PREFIX_GROUPS:
        token = group_token(vocab, group, levels)
        if token is None:
            raise ValueError(f"level {group} is unknown")
        ids.append(token)
    ids.extend(vocab.program[p] for p in program_order(levels.programs or []))
    ids.append(vocab.cond_end)
    return ids
