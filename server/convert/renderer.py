"""Renderer messages -> audio_render's domain types."""

from __future__ import annotations

from audio_render.render import ChorusSettings, ReverbSettings
from ostinato.errors import InvalidInput
from protos.ostinato.v1 import renderer_pb2


def _nonzero(value: float) -> float | None:
    return float(value) if value else None


def effects_from_proto(request: renderer_pb2.RenderMidiRequest) -> tuple[ReverbSettings | None, ChorusSettings | None]:
    """No Effects message: FluidSynth's defaults (both on). Otherwise the flags decide, zeros keep defaults."""
    if not request.HasField("effects"):
        return ReverbSettings(), ChorusSettings()
    fx = request.effects
    reverb = (
        ReverbSettings(
            room_size=_nonzero(fx.reverb_room_size),
            damping=_nonzero(fx.reverb_damping),
            width=_nonzero(fx.reverb_width),
            level=_nonzero(fx.reverb_level),
        )
        if fx.reverb_enabled
        else None
    )
    chorus = (
        ChorusSettings(
            voices=int(fx.chorus_voices) or None,
            level=_nonzero(fx.chorus_level),
            speed_hz=_nonzero(fx.chorus_speed_hz),
            depth_ms=_nonzero(fx.chorus_depth_ms),
        )
        if fx.chorus_enabled
        else None
    )
    for name, value, low, high in (
        ("reverb_room_size", fx.reverb_room_size, 0.0, 1.0),
        ("reverb_damping", fx.reverb_damping, 0.0, 1.0),
        ("reverb_width", fx.reverb_width, 0.0, 100.0),
        ("reverb_level", fx.reverb_level, 0.0, 1.0),
        ("chorus_voices", fx.chorus_voices, 0, 99),
        ("chorus_level", fx.chorus_level, 0.0, 10.0),
        ("chorus_speed_hz", fx.chorus_speed_hz, 0.0, 5.0),
        ("chorus_depth_ms", fx.chorus_depth_ms, 0.0, 256.0),
    ):
        if not low <= value <= high:
            raise InvalidInput(f"effects.{name} must be {low:g}-{high:g}, got {value:g}.")
    return reverb, chorus
