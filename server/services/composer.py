"""Composer servicer: converts each request (server.convert.composer), calls the application layer
(server.application), converts the result back. Vary and Interpolate are served by services/latent.py."""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterator

import grpc

from ostinato.runtime import CancelToken, ProgressEvent
from protos.ostinato.v1 import composer_pb2, composer_pb2_grpc
from server.application import composing, groove
from server.application.models import MODELS
from server.application.text import read_text
from server.convert import composer as convert
from server.convert import groove as convert_groove
from server.rpc import check_size, handle_errors, progress_message, stream_work
from server.services import latent
from server.settings import Settings

log = logging.getLogger("ostinato.composer")

SERVICE_NAME = composer_pb2.DESCRIPTOR.services_by_name["Composer"].full_name
# The domain call of a streamed RPC: (progress, cancel) -> the Generated clip.
Work = Callable[[Callable[[object], None], CancelToken], object]


def stream_clip(context: grpc.ServicerContext, work: Work, response_type: type,  # type: ignore[type-arg]
                to_clip: Callable[[object], composer_pb2.Clip] = convert.clip_to_proto) -> Iterator:
    """Runs `work` in a worker thread, streaming its Progress, then the clip it returns."""
    started = time.monotonic()

    def to_response(event: object):  # type: ignore[no-untyped-def]
        if isinstance(event, ProgressEvent):
            return response_type(progress=progress_message(event, started))
        return None

    generated = yield from stream_work(context, work, to_response)
    yield response_type(clip=to_clip(generated))


def warm_up(settings: Settings) -> None:
    """Loads the generator and writes one bar through the path a request takes, so a preloaded server's
    first request pays no first-call costs (the compiled decoding step: compiled once per machine, some
    seconds, then loaded from numba's cache in about one; scipy's erf)."""
    started = time.monotonic()
    job = convert.generate_job(composer_pb2.GenerateRequest(
        attributes=composer_pb2.Attributes(bars=1), sampling=composer_pb2.Sampling(seed=1)))
    composing.generate(job, settings)
    log.info("composer warmed up in %.1f s", time.monotonic() - started)


class ComposerServicer(composer_pb2_grpc.ComposerServicer):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        if settings.preload_models:
            warm_up(settings)

    @handle_errors
    def Generate(self, request: composer_pb2.GenerateRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        if request.chords_midi:
            check_size("chords_midi", request.chords_midi, self._settings.limits.max_midi_bytes)
        job = convert.generate_job(request)
        yield from stream_clip(
            context, lambda emit, token: composing.generate(job, self._settings, emit, token),
            composer_pb2.GenerateResponse)

    @handle_errors
    def ParseText(self, request: composer_pb2.ParseTextRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        parsed = read_text(request.text, self._settings.limits)
        return composer_pb2.ParseTextResponse(attributes=convert.attributes_to_proto(parsed.attributes),
                                              understood=parsed.understood, ignored=parsed.ignored)

    @handle_errors
    def Continue(self, request: composer_pb2.ContinueRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        check_size("primer_midi", request.primer_midi, self._settings.limits.max_midi_bytes)
        job = convert.continue_job(request)
        yield from stream_clip(
            context, lambda emit, token: composing.continue_clip(job, self._settings, emit, token),
            composer_pb2.ContinueResponse)

    @handle_errors
    def Infill(self, request: composer_pb2.InfillRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        check_size("midi", request.midi, self._settings.limits.max_midi_bytes)
        job = convert.infill_job(request)
        yield from stream_clip(
            context, lambda emit, token: composing.infill(job, self._settings, emit, token),
            composer_pb2.InfillResponse)

    @handle_errors
    def Vary(self, request: composer_pb2.VaryRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        yield from latent.vary(request, context, self._settings)

    @handle_errors
    def Interpolate(self, request: composer_pb2.InterpolateRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        yield from latent.interpolate(request, context, self._settings)

    @handle_errors
    def DescribeMidi(
        self, request: composer_pb2.DescribeMidiRequest, context: grpc.ServicerContext
    ) -> composer_pb2.DescribeMidiResponse:
        check_size("midi", request.midi, self._settings.limits.max_midi_bytes)
        return convert.describe_response(*composing.describe_midi(request.midi))

    @handle_errors
    def Drumify(self, request: composer_pb2.DrumifyRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        check_size("midi", request.midi, self._settings.limits.max_midi_bytes)
        job = convert_groove.drumify_job(request)
        yield from stream_clip(context, lambda emit, token: groove.drumify(job, emit, token),
                               composer_pb2.DrumifyResponse, convert_groove.edited_clip_to_proto)

    @handle_errors
    def Groove(self, request: composer_pb2.GrooveRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        check_size("midi", request.midi, self._settings.limits.max_midi_bytes)
        job = convert_groove.groove_job(request)
        yield from stream_clip(context, lambda emit, token: groove.groove(job, emit, token),
                               composer_pb2.GrooveResponse, convert_groove.edited_clip_to_proto)


def add_to_server(server: grpc.Server, settings: Settings) -> str:
    composer_pb2_grpc.add_ComposerServicer_to_server(ComposerServicer(settings), server)
    return SERVICE_NAME
