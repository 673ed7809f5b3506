"""GenerateFromMelody in domain terms: the request's checks, and the melody read from audio or rendered
from MIDI. The MelodyGenerator servicer converts protobuf to these arguments and back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ostinato.errors import InvalidInput, LimitExceeded
from ostinato.limits import check_range, check_size
from ostinato.runtime import CancelToken, ProgressEvent
from server.settings import Limits, Settings

if TYPE_CHECKING:
    from audio_render.melody.model import MelodyRequest
    from audio_render.melody.pipeline import Melody

MIN_CHUNK_FRAMES = 256
MAX_CHUNK_FRAMES = 1 << 20
MAX_GUIDANCE_SCALE = 20.0
MAX_TEMPERATURE = 5.0
MAX_TOP_K = 4096
# The melody is rendered at the chroma's own rate, mono, with FluidSynth's effects off (cleaner pitch).
MELODY_RENDER_RATE_HZ = 32_000
NO_MELODY = "send the melody as audio (WAV/FLAC bytes) or as midi (Standard MIDI File bytes)"


def melody_request(text: str, duration_s: float, seed: int, guidance_scale: float, temperature: float, top_k: int,
                   chunk_frames: int, limits: Limits) -> MelodyRequest:
    """The checked request (0 means "the model's default" for guidance, temperature and top-k);
    LimitExceeded / InvalidInput name the field and its allowed range."""
    from audio_render.melody.model import MelodyRequest

    if len(text) > limits.max_text_chars:
        raise LimitExceeded("text", len(text), limits.max_text_chars, "characters")
    if not 0 <= guidance_scale <= MAX_GUIDANCE_SCALE:
        raise InvalidInput(f"guidance_scale must be 0 (default) to {MAX_GUIDANCE_SCALE:g}, got {guidance_scale:g}")
    if not 0 <= temperature <= MAX_TEMPERATURE:
        raise InvalidInput(f"temperature must be 0 (default) to {MAX_TEMPERATURE:g}, got {temperature:g}")
    if chunk_frames and not MIN_CHUNK_FRAMES <= chunk_frames <= MAX_CHUNK_FRAMES:
        raise InvalidInput(f"chunk_frames must be 0 (one chunk per window) or {MIN_CHUNK_FRAMES}-{MAX_CHUNK_FRAMES}")
    if duration_s > limits.max_generated_audio_s:
        raise LimitExceeded("duration_s", duration_s, limits.max_generated_audio_s, "s")
    check_range("duration_s", duration_s, 0.0, limits.max_generated_audio_s, "s")  # NaN, negative
    if top_k > MAX_TOP_K:
        raise InvalidInput(f"top_k must be 0 (default) to {MAX_TOP_K}, got {top_k}")
    return MelodyRequest(text=text, duration_s=duration_s, seed=int(seed), guidance_scale=guidance_scale or None,
                         temperature=temperature or None, top_k=int(top_k) or None)


def read_melody(kind: str | None, data: bytes, settings: Settings, emit: Callable[[Any], None], cancel: CancelToken,
                soundfont: str = "", gain: float = 0.0) -> Melody:
    """The melody of a request: `kind` "audio" (WAV/FLAC bytes) or "midi" (rendered here with FluidSynth,
    mono at the chroma's rate, effects off); InvalidInput for anything else."""
    from audio_render.melody.pipeline import melody_from_audio, melody_from_render

    limits = settings.limits
    if kind == "audio":
        check_size("audio", data, limits.max_audio_bytes)
        return melody_from_audio(data, limits.max_input_audio_s)
    if kind == "midi":
        check_size("midi", data, limits.max_midi_bytes)
        from audio_render.render import RenderOptions, render_midi
        from audio_render.soundfonts import resolve_soundfont

        path = resolve_soundfont(soundfont, settings.soundfont_dirs, settings.default_soundfont, restrict=True)
        options = RenderOptions(
            soundfont=path, sample_rate_hz=MELODY_RENDER_RATE_HZ, channels=1, gain=gain or 0.5, tail_s=0.5,
            reverb=None, chorus=None, max_duration_s=limits.max_input_audio_s, soundfont_dirs=settings.soundfont_dirs,
        )
        def progress(event) -> None:  # type: ignore[no-untyped-def]
            emit(ProgressEvent("render", event.fraction * 0.1, event.message))  # rendering: the first 10%

        rendered = render_midi(data, options, progress=progress, cancel=cancel)
        return melody_from_render(rendered.samples, rendered.sample_rate_hz)
    raise InvalidInput(NO_MELODY)
