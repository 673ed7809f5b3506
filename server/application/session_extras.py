"""Drumify and accompaniment for a DAW session's clip (the bridge's clip factory calls these).

Drumify answers with MIDI: the drum track alone, on the GM drum channel (10), for the session to launch
on the next bar. The accompaniment is audio, which MIDI ports cannot carry: the clip is rendered with
FluidSynth, the Accompanist plays along, and the part and the mix are written as WAV files in the
session's folder; the caller announces their paths in a session event.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ostinato.runtime import CancelToken, ProgressFn
from server.application.groove import DrumifyJob, drumify
from server.application.models import MODELS, ModelRegistry
from server.settings import Settings

# Longest clip the session accompanies (the Accompanist's own input bound is 120 s).
MAX_ACCOMPANY_S = 120.0
ACCOMPANY_SAMPLE_RATE_HZ = 44_100


def session_folder(session_id: str) -> Path:
    """Where a session's audio results go: <temp>/ostinato-sessions/<session id>/."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", session_id)[:64] or "session"
    folder = Path(tempfile.gettempdir()) / "ostinato-sessions" / safe
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def session_drums(midi: bytes, seed: int, progress: ProgressFn, cancel: CancelToken) -> bytes:
    """The drum track alone for the session's clip (its tempo map and meter kept)."""
    return drumify(DrumifyJob(midi, merge=False, seed=seed), progress, cancel).midi


@dataclass
class Accompaniment:
    part: str  # "drums" or "backing"
    part_path: Path
    mix_path: Path
    duration_s: float
    wav: bytes  # the part, for a follower on another machine


def part_for(text: str) -> str:
    """What a session's accompany text asks for: drums when it names drums alone, else a backing."""
    words = text.lower()
    return "drums" if "drum" in words and not any(w in words for w in ("bass", "chord", "piano", "backing")) else "backing"


def accompany_clip(midi: bytes, text: str, seed: int, settings: Settings, folder: Path, name: str,
                   progress: ProgressFn, cancel: CancelToken, models: ModelRegistry = MODELS) -> Accompaniment:
    """The clip rendered with FluidSynth and accompanied; the part and the mix written as WAV files in
    `folder` (`<name>.<part>.wav`, `<name>.mix.wav`)."""
    from audio_render.accompanist.inputs import check_samples
    from audio_render.accompanist.model import AccompanimentChunk, AccompanimentRequest
    from audio_render.audio_io import encode_wav
    from audio_render.render import RenderOptions, render_midi
    from audio_render.soundfonts import resolve_soundfont

    soundfont = resolve_soundfont("", settings.soundfont_dirs, settings.default_soundfont, restrict=True)
    options = RenderOptions(soundfont=soundfont, sample_rate_hz=ACCOMPANY_SAMPLE_RATE_HZ, channels=2,
                            max_duration_s=min(MAX_ACCOMPANY_S, settings.limits.max_render_s),
                            soundfont_dirs=settings.soundfont_dirs)
    audio = render_midi(midi, options, progress=progress, cancel=cancel)
    check_samples(audio.samples, audio.sample_rate_hz)
    part = part_for(text)
    request = AccompanimentRequest(samples=audio.samples, sample_rate_hz=audio.sample_rate_hz, part=part, mix=True,
                                   seed=seed)
    part_audio = np.zeros_like(audio.samples)
    mix_audio = np.zeros_like(audio.samples)
    for item in models.accompaniment_writer(settings, part).generate(request, progress=progress, cancel=cancel):
        if isinstance(item, AccompanimentChunk):
            stop = item.start_frame + len(item.part)
            part_audio[item.start_frame:stop] = item.part
            if item.mix is not None:
                mix_audio[item.start_frame:stop] = item.mix
    cancel.check()
    wav = encode_wav(part_audio, audio.sample_rate_hz)
    part_path = folder / f"{name}.{part}.wav"
    mix_path = folder / f"{name}.mix.wav"
    part_path.write_bytes(wav)
    mix_path.write_bytes(encode_wav(mix_audio, audio.sample_rate_hz))
    return Accompaniment(part, part_path, mix_path, len(audio.samples) / audio.sample_rate_hz, wav)
