"""MelodyGenerator servicer: GenerateFromMelody (streamed) and DescribeMelodyModel.

Converts protobuf <-> audio_render.melody's domain types here and nowhere else; the request's checks
and the reading of the melody (audio, or MIDI rendered) are server/application/melody.py's. The model
is loaded once, on first use (or at start-up with preload_models), from settings.melody_model_dir: the
embedded model by default, or a published checkpoint in the transformers or audiocraft layout.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any, Callable

import grpc

from audio_render.audio_io import to_pcm_s16le
from audio_render.melody.model import AudioPiece, MelodyModel, MelodyRequest
from audio_render.melody.pipeline import Notice, Summary, generate, melody_from_audio, resolve_duration
from ostinato.errors import InvalidInput
from ostinato.runtime import CancelToken, ProgressEvent
from protos.ostinato.v1 import common_pb2, melody_pb2, melody_pb2_grpc
from server.application.melody import MELODY_RENDER_RATE_HZ, NO_MELODY, melody_request, read_melody
from server.application.models import MODELS
from server.rpc import call_token, handle_errors, progress_message, stream_work
from server.settings import Settings

SERVICE_NAME = melody_pb2.DESCRIPTOR.services_by_name["MelodyGenerator"].full_name
log = logging.getLogger("ostinato.melody")

PCM = common_pb2.AUDIO_ENCODING_PCM_S16LE


class MelodyGeneratorServicer(melody_pb2_grpc.MelodyGeneratorServicer):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        if settings.preload_models:
            warm_up(self.model())

    def model(self) -> MelodyModel:
        """The process's one melody model (MissingAsset -> FAILED_PRECONDITION if absent)."""
        return MODELS.melody_model(self._settings)

    # ------------------------------------------------------------------------------ RPCs
    @handle_errors
    def GenerateFromMelody(self, request: melody_pb2.GenerateFromMelodyRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        started = time.monotonic()
        domain_request = melody_request(request.text, request.duration_s, request.seed, request.guidance_scale,
                                       request.temperature, request.top_k, request.chunk_frames, self._settings.limits)
        kind = request.WhichOneof("melody")
        if kind is None:
            raise InvalidInput(NO_MELODY)
        token = call_token(context)
        chunk_frames = int(request.chunk_frames)

        def work(emit: Callable[[Any], None], cancel: CancelToken) -> None:
            emit(ProgressEvent("load", 0.0, "loading the melody model"))
            model = self.model()
            melody = read_melody(kind, getattr(request, kind), self._settings, emit, cancel,
                                 soundfont=request.render.soundfont, gain=request.render.gain)
            duration_s = resolve_duration(request.duration_s, melody, self._settings.limits.max_generated_audio_s)
            chosen = MelodyRequest(**{**domain_request.__dict__, "duration_s": duration_s})
            emit(melody_pb2.GenerateFromMelodyResponse(format=common_pb2.AudioFormat(
                sample_rate_hz=model.info.sample_rate_hz, channels=1, encoding=PCM,
                total_frames=model.output_samples(duration_s),
            )))
            first_chunk_s = 0.0
            for item in generate(
                model, melody, chosen, remove_drums_and_bass=request.remove_drums_and_bass,
                on_notice=emit, progress=emit, cancel=cancel,
            ):
                if isinstance(item, AudioPiece):
                    first_chunk_s = first_chunk_s or time.monotonic() - started
                    for message in _chunks(item, chunk_frames):
                        emit(message)
                else:  # the summary: times as the client sees them, from the start of the call
                    emit(replace(item, first_chunk_s=first_chunk_s, compute_s=time.monotonic() - started))

        def to_response(item: Any) -> melody_pb2.GenerateFromMelodyResponse | None:
            if isinstance(item, ProgressEvent):
                return melody_pb2.GenerateFromMelodyResponse(progress=progress_message(item, started))
            if isinstance(item, Notice):
                return melody_pb2.GenerateFromMelodyResponse(notice=common_pb2.Notice(code=item.code, message=item.message))
            if isinstance(item, Summary):
                return melody_pb2.GenerateFromMelodyResponse(summary=melody_pb2.GenerationSummary(
                    duration_s=item.duration_s, compute_s=item.compute_s, first_chunk_s=item.first_chunk_s,
                    chroma_cosine=item.chroma_cosine, seed=item.seed, model=item.model,
                ))
            return item

        yield from stream_work(context, work, to_response, token)

    @handle_errors
    def DescribeMelodyModel(self, request: melody_pb2.DescribeMelodyModelRequest, context: grpc.ServicerContext) -> melody_pb2.DescribeMelodyModelResponse:
        info = self.model().info
        return melody_pb2.DescribeMelodyModelResponse(
            name=info.name, sample_rate_hz=info.sample_rate_hz, frame_rate_hz=info.frame_rate_hz,
            window_s=info.window_s, parameters=info.parameters, source=info.source,
        )


def warm_up(model: MelodyModel) -> None:
    """One second of generation from a short WAV, through the path a request takes (WAV decoding, the
    chroma, the text encoder, the sampler), so a preloaded server's first call pays no first-call costs."""
    import numpy as np

    from audio_render.audio_io import encode_wav

    started = time.monotonic()
    rate_hz = MELODY_RENDER_RATE_HZ
    times_s = np.arange(rate_hz) / rate_hz
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * times_s) * np.exp(-3.0 * times_s)).astype(np.float32)
    melody = melody_from_audio(encode_wav(tone[:, None], rate_hz), max_duration_s=5.0)
    for _ in generate(model, melody, MelodyRequest(text="warm up", duration_s=1.0, seed=1)):
        pass
    log.info("melody model warmed up in %.1f s", time.monotonic() - started)


def _chunks(piece: AudioPiece, chunk_frames: int):
    """AudioChunk messages for a decoded window: one, or pieces of chunk_frames samples."""
    samples = piece.samples
    size = chunk_frames or max(1, samples.shape[0])
    for begin in range(0, samples.shape[0], size):
        part = samples[begin : begin + size]
        last = piece.last and begin + size >= samples.shape[0]
        yield melody_pb2.GenerateFromMelodyResponse(chunk=common_pb2.AudioChunk(
            data=to_pcm_s16le(part[:, None]), start_frame=piece.start_frame + begin, last=last,
        ))


def add_to_server(server: grpc.Server, settings: Settings) -> str:
    melody_pb2_grpc.add_MelodyGeneratorServicer_to_server(MelodyGeneratorServicer(settings), server)
    return SERVICE_NAME
