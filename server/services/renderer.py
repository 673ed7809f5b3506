"""Renderer servicer: RenderMidi (FluidSynth, streamed as it renders) and ListSoundFonts.

Converts protobuf <-> audio_render's domain types here and nowhere else. The render runs in a worker
thread (server.rpc.stream_work) so synthesis and sending overlap on two cores; blocks are converted to
s16le in that thread and become AudioChunk messages, the mix's chunk first, then each stem's.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import grpc
import numpy as np

from audio_render import fluid
from audio_render.audio_io import LIMITER_THRESHOLD, to_pcm_s16le
from audio_render.render import RenderOptions, iter_render
from audio_render.soundfonts import list_soundfonts, resolve_soundfont
from ostinato.errors import InvalidInput
from ostinato.runtime import CancelToken, ProgressEvent
from protos.ostinato.v1 import common_pb2, renderer_pb2, renderer_pb2_grpc
from server.convert.renderer import effects_from_proto
from server.rpc import call_token, check_response_size, check_size, handle_errors, progress_message, stream_work
from server.settings import Settings

SERVICE_NAME = renderer_pb2.DESCRIPTOR.services_by_name["Renderer"].full_name
log = logging.getLogger("ostinato.renderer")

DEFAULT_SAMPLE_RATE_HZ = 44_100
DEFAULT_CHANNELS = 2
DEFAULT_CHUNK_FRAMES = 16_384
MIN_CHUNK_FRAMES = 256
MAX_CHUNK_FRAMES = 262_144
DEFAULT_GAIN = 0.5
DEFAULT_TAIL_S = 2.0
PCM = common_pb2.AUDIO_ENCODING_PCM_S16LE
MAX_CHUNKS_AHEAD = 64


class RendererServicer(renderer_pb2_grpc.RendererServicer):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _options(self, request: renderer_pb2.RenderMidiRequest) -> RenderOptions:
        settings = self._settings
        chunk_frames = request.chunk_frames or DEFAULT_CHUNK_FRAMES
        if not MIN_CHUNK_FRAMES <= chunk_frames <= MAX_CHUNK_FRAMES:
            raise InvalidInput(
                f"chunk_frames must be {MIN_CHUNK_FRAMES:,}-{MAX_CHUNK_FRAMES:,}, got {chunk_frames:,}."
            )
        # A chunk must fit in one response message: refuse now rather than fail mid-stream.
        check_response_size("an audio chunk (chunk_frames x channels x 2 bytes)",
                            chunk_frames * min(2, request.channels or DEFAULT_CHANNELS) * 2 + 1024, settings.max_message_bytes)
        reverb, chorus = effects_from_proto(request)
        soundfont = resolve_soundfont(
            request.soundfont, settings.soundfont_dirs, settings.default_soundfont, restrict=True
        )
        return RenderOptions(
            soundfont=soundfont,
            sample_rate_hz=request.sample_rate_hz or DEFAULT_SAMPLE_RATE_HZ,
            channels=request.channels or DEFAULT_CHANNELS,
            gain=request.gain or DEFAULT_GAIN,
            tail_s=DEFAULT_TAIL_S if request.tail_s < 0 else request.tail_s,
            reverb=reverb,
            chorus=chorus,
            stems=request.stems,
            block_frames=chunk_frames,
            max_duration_s=settings.limits.max_render_s,
            soundfont_dirs=settings.soundfont_dirs,
        )

    @handle_errors
    def RenderMidi(self, request: renderer_pb2.RenderMidiRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        started = time.monotonic()
        check_size("midi", request.midi, self._settings.limits.max_midi_bytes)
        options = self._options(request)
        yield renderer_pb2.RenderMidiResponse(
            progress=progress_message(ProgressEvent("render", 0.0, "reading the MIDI file"), started)
        )
        token = call_token(context)
        # Backpressure: the render may run ahead of a slow client by MAX_CHUNKS_AHEAD chunks, not by
        # the whole file (a 10-minute render with stems would otherwise queue up gigabytes).
        in_flight = threading.BoundedSemaphore(MAX_CHUNKS_AHEAD)

        def emit_chunk(emit: Callable[[Any], None], cancel: CancelToken, message: Any) -> None:
            while not in_flight.acquire(timeout=0.25):
                cancel.check()
            emit(message)

        def work(emit: Callable[[Any], None], cancel: CancelToken) -> None:
            _render_into(request, options, emit, lambda m: emit_chunk(emit, cancel, m), cancel, started)

        def to_response(item: Any) -> renderer_pb2.RenderMidiResponse:
            if isinstance(item, ProgressEvent):
                return renderer_pb2.RenderMidiResponse(progress=progress_message(item, started))
            if item.HasField("chunk"):
                in_flight.release()
            return item

        yield from stream_work(context, work, to_response, token)

    @handle_errors
    def ListSoundFonts(
        self, request: renderer_pb2.ListSoundFontsRequest, context: grpc.ServicerContext
    ) -> renderer_pb2.ListSoundFontsResponse:
        found = list_soundfonts(self._settings.soundfont_dirs, self._settings.default_soundfont)
        return renderer_pb2.ListSoundFontsResponse(
            soundfonts=[
                renderer_pb2.SoundFontInfo(
                    name=sf.name, path=str(sf.path), size_bytes=sf.size_bytes, is_default=sf.is_default
                )
                for sf in found
            ]
        )


def _render_into(
    request: renderer_pb2.RenderMidiRequest,
    options: RenderOptions,
    emit: Callable[[Any], None],
    emit_chunk: Callable[[Any], None],
    cancel: CancelToken,
    started: float,
) -> None:
    """Runs one render, emitting ProgressEvents and ready RenderMidiResponse messages (audio chunks
    through `emit_chunk`, which may wait for the client)."""
    Response = renderer_pb2.RenderMidiResponse
    stream = iter_render(request.midi, options, progress=emit, cancel=cancel)
    if request.stems and not stream.stem_names:
        emit(Response(notice=common_pb2.Notice(code="no_stems", message="The file has no notes, so no stems.")))
    for stem in ["", *stream.stem_names]:
        emit(
            Response(
                format=common_pb2.AudioFormat(
                    sample_rate_hz=stream.sample_rate_hz,
                    channels=stream.channels,
                    encoding=PCM,
                    total_frames=stream.total_frames,
                    stem=stem,
                )
            )
        )
    peak = 0.0
    for block in stream:
        peak = max(peak, float(np.max(np.abs(block.mix))) if block.mix.size else 0.0)
        emit_chunk(Response(chunk=common_pb2.AudioChunk(
            data=to_pcm_s16le(block.mix), start_frame=block.start_frame, last=block.last)))
        for name, audio in (block.stems or {}).items():
            emit_chunk(Response(chunk=common_pb2.AudioChunk(
                data=to_pcm_s16le(audio), start_frame=block.start_frame, stem=name, last=block.last)))
    if peak > LIMITER_THRESHOLD:
        emit(Response(notice=common_pb2.Notice(code="limited", message=(
            f"The mix peaked at {peak:.2f} of full scale: a limiter bent the loudest peaks to keep them from "
            f"clipping. Lower gain (now {request.gain or DEFAULT_GAIN:g}) for a clean render."))))
    emit(
        Response(
            summary=renderer_pb2.RenderSummary(
                duration_s=stream.total_frames / stream.sample_rate_hz,
                total_frames=stream.total_frames,
                peak=min(1.0, peak),
                stems=stream.stem_names,
                render_s=time.monotonic() - started,
            )
        )
    )


def _preload_default(settings: Settings) -> None:
    try:
        path = resolve_soundfont("", settings.soundfont_dirs, settings.default_soundfont)
        fluid.default_pool().preload(path, fluid.SynthLayout(DEFAULT_SAMPLE_RATE_HZ))
    except Exception as error:  # noqa: BLE001 - a missing default is reported on first use instead
        log.warning("could not preload the default SoundFont: %s", error)


def add_to_server(server: grpc.Server, settings: Settings) -> str:
    renderer_pb2_grpc.add_RendererServicer_to_server(RendererServicer(settings), server)
    # Loading FluidR3_GM takes ~0.7 s: do it now, off the start-up path, not on the first request.
    threading.Thread(target=_preload_default, args=(settings,), name="soundfont-preload", daemon=True).start()
    return SERVICE_NAME
