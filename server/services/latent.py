"""Composer.Vary and Composer.Interpolate: the MusicVAE-style latent space, served.

The Composer servicer delegates to these generators:

    @handle_errors
    def Vary(self, request, context):
        yield from latent.vary(request, context, self._settings)

Each validates and converts the request, streams a Notice for everything the reading of the input
changed or left out (the track taken from a multi-track file, chords cut to one note, onsets moved onto
the sixteenth grid), runs the domain work (symbolic.latent) in a worker thread while streaming
Progress, then yields one Clip per result. The model is loaded on first use.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

import grpc

from ostinato.runtime import CancelToken, ProgressEvent
from protos.ostinato.v1 import common_pb2, composer_pb2
from server.application import latent as latent_work
from server.application.models import MODELS
from server.convert.composer import clip_to_proto
from server.rpc import check_size, progress_message, stream_work
from server.settings import Settings


def load_space(settings: Settings):  # type: ignore[no-untyped-def]
    """The process's one LatentSpace (MissingAsset -> FAILED_PRECONDITION if absent)."""
    return MODELS.latent_space(settings)


def _decoding(message: composer_pb2.Sampling):  # type: ignore[no-untyped-def]
    return latent_work.decoding(message.seed, message.temperature, message.top_k)


def _notices(response_type, read, prefix: str = "") -> Iterator:  # type: ignore[no-untyped-def]
    for notice in read.notices:
        yield response_type(notice=common_pb2.Notice(code=notice.code, message=prefix + notice.message))


def clip_message(clip, seed: int, family: str = "melody") -> composer_pb2.Clip:  # type: ignore[no-untyped-def]
    """A grid clip of `family` as a Clip message: MIDI bytes, NoteSequence, requested (meter, tempo,
    bars, instruments) and the attributes the shared extractor measures on the output."""
    return clip_to_proto(latent_work.family_result(family, clip, seed))


def _stream_clips(context: grpc.ServicerContext, work: Callable, response_type, seed: int,  # type: ignore[type-arg]
                  family: str) -> Iterator:
    from symbolic.latent.representation import Notice

    started = time.monotonic()

    def to_response(event: object):  # type: ignore[no-untyped-def]
        if isinstance(event, ProgressEvent):
            return response_type(progress=progress_message(event, started))
        if isinstance(event, Notice):
            return response_type(notice=common_pb2.Notice(code=event.code, message=event.message))
        return None

    clips = yield from stream_work(context, work, to_response)
    for clip in clips:
        yield response_type(clip=clip_message(clip, seed, family))


def _seed(message: composer_pb2.Sampling) -> int:
    return latent_work.resolve_seed(message.seed)


def vary(request: composer_pb2.VaryRequest, context: grpc.ServicerContext,
         settings: Settings) -> Iterator[composer_pb2.VaryResponse]:
    """num_variations clips near the request's clip (streamed Progress, then one Clip each)."""
    limits = settings.limits
    latent_work.check_vary(request.num_variations, request.similarity_distance, limits)
    check_size("midi", request.midi, limits.max_midi_bytes)
    read = latent_work.read_input("midi", request.midi, settings, request.family, request.track)
    clip = read.clip
    shifts = latent_work.total_shifts((shift.attribute, shift.amount) for shift in request.shifts)
    seed = _seed(request.sampling)
    sampling = composer_pb2.Sampling(seed=seed, temperature=request.sampling.temperature,
                                     top_k=request.sampling.top_k)
    decoding = _decoding(sampling)
    space = latent_work.space_for(read.family, settings)
    latent_work.check_shifts(read.family, space, clip, shifts)

    def work(emit: Callable[[object], None], token: CancelToken):  # type: ignore[no-untyped-def]
        from symbolic.latent.representation import Notice

        variations = space.vary(clip, int(request.num_variations), float(request.similarity_distance), shifts,
                                decoding, max_variations=limits.max_variations, progress=emit, cancel=token)
        if len(variations) < request.num_variations:
            emit(Notice("fewer_variations", f"{len(variations)} of {request.num_variations} variations: the "
                                            "others kept decoding to the clip itself and were left out"))
        return variations

    yield from _notices(composer_pb2.VaryResponse, read)
    yield from _stream_clips(context, work, composer_pb2.VaryResponse, seed, read.family)


def interpolate(request: composer_pb2.InterpolateRequest, context: grpc.ServicerContext,
                settings: Settings) -> Iterator[composer_pb2.InterpolateResponse]:
    """`steps` clips from start to end through the latent space, endpoints included."""
    limits = settings.limits
    latent_work.check_interpolate(request.steps, limits)
    check_size("start_midi", request.start_midi, limits.max_midi_bytes)
    check_size("end_midi", request.end_midi, limits.max_midi_bytes)
    start_read = latent_work.read_input("start_midi", request.start_midi, settings, request.family,
                                        request.start_track)
    end_read = latent_work.read_input("end_midi", request.end_midi, settings, request.family, request.end_track)
    family, pair_notices = latent_work.pair_family(start_read, end_read, request.family)
    start, end = start_read.clip, end_read.clip
    seed = _seed(request.sampling)
    decoding = _decoding(composer_pb2.Sampling(seed=seed, temperature=request.sampling.temperature,
                                               top_k=request.sampling.top_k))
    space = latent_work.space_for(family, settings)

    def work(emit: Callable[[object], None], token: CancelToken):  # type: ignore[no-untyped-def]
        return space.interpolate(start, end, int(request.steps), decoding,
                                 max_steps=limits.max_interpolation_steps, progress=emit, cancel=token)

    yield from _notices(composer_pb2.InterpolateResponse, start_read, "start: ")
    yield from _notices(composer_pb2.InterpolateResponse, end_read, "end: ")
    for notice in pair_notices:
        yield composer_pb2.InterpolateResponse(notice=common_pb2.Notice(code=notice.code, message=notice.message))
    yield from _stream_clips(context, work, composer_pb2.InterpolateResponse, seed, family)
