"""From a request's melody (audio bytes or MIDI bytes) to streamed generated audio: the domain side of
the MelodyGenerator service. No gRPC here; the server converts to and from protobuf."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from audio_render.audio_io import decode_audio
from audio_render.chroma import chroma_cosine_similarity, to_mono
from audio_render.melody.model import AudioPiece, GenerationStats, MelodyModel, MelodyRequest
from ostinato.errors import InvalidInput, LimitExceeded
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn, no_progress

SEPARATION_SKIPPED = "separation_unavailable"


@dataclass(frozen=True)
class Notice:
    code: str
    message: str


@dataclass(frozen=True)
class Summary:
    duration_s: float
    compute_s: float
    first_chunk_s: float
    chroma_cosine: float
    seed: int
    model: str


@dataclass(frozen=True)
class Melody:
    """Mono float32 melody audio."""

    samples: np.ndarray
    sample_rate_hz: int

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate_hz


def melody_from_audio(data: bytes, max_duration_s: float) -> Melody:
    samples, rate = decode_audio(data, max_duration_s=max_duration_s)
    mono = to_mono(samples)
    if not np.any(np.abs(mono) > 1e-4):
        raise InvalidInput("the melody audio is silent: send a recording where the melody can be heard")
    return Melody(np.ascontiguousarray(mono, dtype=np.float32), rate)


def melody_from_render(samples: np.ndarray, sample_rate_hz: int) -> Melody:
    mono = to_mono(samples)
    if not np.any(np.abs(mono) > 1e-4):
        raise InvalidInput("the MIDI file renders to silence: does it contain notes?")
    return Melody(np.ascontiguousarray(mono, dtype=np.float32), sample_rate_hz)


def resolve_duration(requested_s: float, melody: Melody, limit_s: float) -> float:
    """0 means the melody's own length (capped at the limit); above the limit is LimitExceeded."""
    if requested_s < 0 or not np.isfinite(requested_s):
        raise InvalidInput(f"duration_s must be 0 (the melody's length) or positive, got {requested_s:g}")
    if requested_s == 0:
        return min(melody.duration_s, limit_s)
    if requested_s < 1.0:
        raise InvalidInput(f"duration_s must be at least 1 second, got {requested_s:g}")
    if requested_s > limit_s:
        raise LimitExceeded("duration_s", requested_s, limit_s, "s")
    return requested_s


def generate(
    model: MelodyModel,
    melody: Melody,
    request: MelodyRequest,
    *,
    remove_drums_and_bass: bool = False,
    on_notice: Callable[[Notice], None] = lambda notice: None,
    progress: ProgressFn = no_progress,
    cancel: CancelToken | None = None,
) -> Iterator[AudioPiece | Summary]:
    """Yields AudioPieces in playback order, then one Summary."""
    if remove_drums_and_bass:
        on_notice(Notice(
            SEPARATION_SKIPPED,
            "drum and bass removal was skipped: no source-separation model (demucs) is available on this "
            "server, so the chroma was computed from the full mix",
        ))
    stats = GenerationStats()
    pieces = []
    for piece in model.generate(melody.samples, melody.sample_rate_hz, request, progress, cancel, stats):
        pieces.append(piece.samples)
        yield piece
    output = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    progress(ProgressEvent("measure", 1.0, "chroma similarity"))
    cosine = chroma_cosine_similarity(
        melody.samples, output, model.info.sample_rate_hz, reference_sample_rate_hz=melody.sample_rate_hz
    ) if output.size else 0.0
    yield Summary(
        duration_s=output.shape[0] / model.info.sample_rate_hz,
        compute_s=stats.compute_s,
        first_chunk_s=stats.first_chunk_s,
        chroma_cosine=cosine,
        seed=request.seed,
        model=model.info.name,
    )
