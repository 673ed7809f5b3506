"""Accompanist servicer: Accompany (streamed drums for a drumless mix, or backing for a melody).

Validates and converts here; the model (audio_render.accompanist) does the rest. The model loads once,
on first use or at start-up with preload_models, from settings.accompanist_model_dir.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import grpc

from audio_render.accompanist.model import (
    AccompanimentChunk,
    AccompanimentRequest,
    Analysis,
)
from audio_render.audio_io import decode_audio, to_pcm_s16le
from ostinato.errors import InvalidInput
from ostinato.runtime import CancelToken, ProgressEvent
from protos.ostinato.v1 import accompanist_pb2, accompanist_pb2_grpc, common_pb2
from server.rpc import call_token, check_size, handle_errors, progress_message, stream_work
from server.settings import Settings

SERVICE_NAME = accompanist_pb2.DESCRIPTOR.services_by_name["Accompanist"].full_name

PCM = common_pb2.AUDIO_ENCODING_PCM_S16LE
PART_NAMES = {accompanist_pb2.PART_DRUMS: "drums", accompanist_pb2.PART_BACKING: "backing"}
ROUTES = {accompanist_pb2.ACCOMPANY_MODEL_TOKENS: "tokens", accompanist_pb2.ACCOMPANY_MODEL_COMPOSER: "composer"}
ROUTE_ENUMS = {name: value for value, name in ROUTES.items()}
# The contract's bound on input length (accompanist.proto), under the server-wide input limit.
MAX_ACCOMPANY_AUDIO_S = 120.0
MAX_TEMPERATURE = 2.0


class AccompanistServicer(accompanist_pb2_grpc.AccompanistServicer):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        if settings.preload_models:
            self.writer("drums", "tokens").warm_up()
            self.writer("backing", "composer").warm_up()

    def writer(self, part: str, route: str | None):  # type: ignore[no-untyped-def]
        """The process's shared writer of `part` by `route` (None: the part's default route)."""
        from server.application.models import MODELS

        return MODELS.accompaniment_writer(self._settings, part, route)

    def _route(self, request: accompanist_pb2.AccompanyRequest) -> str:
        if request.model == accompanist_pb2.ACCOMPANY_MODEL_UNSPECIFIED:
            from server.application.models import DEFAULT_ACCOMPANY_ROUTES

            return DEFAULT_ACCOMPANY_ROUTES[PART_NAMES[request.part]]
        if request.model not in ROUTES:
            raise InvalidInput(f"model: {request.model} is not a known route; choose ACCOMPANY_MODEL_TOKENS or "
                               "ACCOMPANY_MODEL_COMPOSER (backing only)")
        route = ROUTES[request.model]
        if route == "composer" and request.part == accompanist_pb2.PART_DRUMS:
            raise InvalidInput("model: the composer route writes backing only; ask for drums with "
                               "ACCOMPANY_MODEL_TOKENS (or leave the model unspecified)")
        return route

    def _request(self, request: accompanist_pb2.AccompanyRequest) -> AccompanimentRequest:
        """The domain request, with the audio header-checked, decoded and checked."""
        from audio_render.accompanist.inputs import check_samples

        if request.part not in PART_NAMES:
            raise InvalidInput("part: choose PART_DRUMS (drums for a drumless mix) or PART_BACKING (backing for a melody)")
        self._route(request)
        if not 0.0 <= request.temperature <= MAX_TEMPERATURE:
            raise InvalidInput(f"temperature must be 0 (the model's default) to {MAX_TEMPERATURE:g}, got {request.temperature:g}")
        limits = self._settings.limits
        check_size("audio", request.audio, limits.max_audio_bytes)
        max_s = min(MAX_ACCOMPANY_AUDIO_S, limits.max_input_audio_s)
        _scan_header(request.audio, max_s)
        samples, rate = decode_audio(request.audio, max_duration_s=max_s)
        check_samples(samples, rate)
        return AccompanimentRequest(
            samples=samples, sample_rate_hz=rate, part=PART_NAMES[request.part], mix=request.mix,
            seed=int(request.seed), temperature=request.temperature or None,
        )

    @handle_errors
    def Accompany(self, request: accompanist_pb2.AccompanyRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        started = time.monotonic()
        domain = self._request(request)
        route = self._route(request)
        token = call_token(context)
        stem = domain.part
        channels, rate = domain.samples.shape[1], domain.sample_rate_hz
        total_frames = domain.samples.shape[0]

        def work(emit: Callable[[Any], None], cancel: CancelToken) -> None:
            emit(ProgressEvent("load", 0.0, "loading the accompaniment model"))
            writer = self.writer(stem, route)
            analysis: Analysis | None = None
            first_chunk_s = 0.0
            for item in writer.generate(domain, progress=emit, cancel=cancel):
                if isinstance(item, Analysis):
                    first_analysis, analysis = analysis is None, item
                    if not first_analysis:  # the hybrid heard more of the melody: the summary says what it found last
                        continue
                    if item.description:
                        emit(accompanist_pb2.AccompanyResponse(notice=common_pb2.Notice(code="hybrid",
                                                                                       message=item.description)))
                    for name in [stem] + ([""] if domain.mix else []):
                        emit(accompanist_pb2.AccompanyResponse(format=common_pb2.AudioFormat(
                            sample_rate_hz=rate, channels=channels, encoding=PCM, total_frames=total_frames, stem=name,
                        )))
                    continue
                first_chunk_s = first_chunk_s or time.monotonic() - started
                emit(_chunk(item, stem, item.part))
                if item.mix is not None:
                    emit(_chunk(item, "", item.mix))
            beats = analysis.beats if analysis else None
            emit(accompanist_pb2.AccompanyResponse(summary=accompanist_pb2.AccompanySummary(
                beat_times_s=[] if beats is None else [float(t) for t in beats.beat_times_s],
                downbeats=[] if beats is None else [bool(d) for d in beats.downbeat],
                tempo_bpm=analysis.tempo_bpm if analysis else 0.0, duration_s=total_frames / rate,
                first_chunk_s=first_chunk_s, compute_s=time.monotonic() - started,
                model=(f"ostinato-accompanist ({writer.parameters / 1e6:.1f} M parameters)" if route == "tokens"
                       else writer.name),
                route=ROUTE_ENUMS[route],
                key=analysis.key if analysis else "", chords=list(analysis.chords) if analysis else [],
            )))

        def to_response(item: Any) -> accompanist_pb2.AccompanyResponse | None:
            if isinstance(item, ProgressEvent):
                return accompanist_pb2.AccompanyResponse(progress=progress_message(item, started))
            return item

        yield from stream_work(context, work, to_response, token)


def _chunk(item: AccompanimentChunk, stem: str, samples) -> accompanist_pb2.AccompanyResponse:  # type: ignore[no-untyped-def]
    return accompanist_pb2.AccompanyResponse(chunk=common_pb2.AudioChunk(
        data=to_pcm_s16le(samples), start_frame=item.start_frame, stem=stem, last=item.last,
    ))


def _scan_header(data: bytes, max_duration_s: float) -> None:
    """The shared WAV/FLAC header scan (rate 4 kHz-192 kHz, declared length) before any decoding."""
    from ostinato.midi_scan import scan_audio

    scan_audio(data, max_duration_s=max_duration_s)


def add_to_server(server: grpc.Server, settings: Settings) -> str:
    accompanist_pb2_grpc.add_AccompanistServicer_to_server(AccompanistServicer(settings), server)
    return SERVICE_NAME
