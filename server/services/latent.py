"""Composer.Vary and Composer.Interpolate: the MusicVAE-style latent space, served.

The Composer servicer delegates to these generators:

    @handle_errors
    def Vary(self, request, context):
        yield from latent.vary(request, context, self._settings)

Each validates and converts the request, runs the domain work (symbolic.latent) in a worker thread
while streaming Progress, then yields one Clip per result. The model is loaded on first use.
"""

from __future__ import annotations

import functools
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import grpc

from ostinato.errors import InvalidInput
from ostinato.runtime import CancelToken, ProgressEvent
from protos.ostinato.v1 import composer_pb2
from server.rpc import check_size, progress_message, stream_work
from server.settings import Settings

_LOAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _cached_space(model_dir: Path, torch_threads: int):  # type: ignore[no-untyped-def]
    import torch

    from symbolic.latent.space import LatentSpace

    torch.set_num_threads(torch_threads)
    return LatentSpace.from_pretrained(model_dir)


def load_space(settings: Settings):  # type: ignore[no-untyped-def]
    """The LatentSpace of settings.latent_model_dir (MissingAsset -> FAILED_PRECONDITION if absent)."""
    with _LOAD_LOCK:
        return _cached_space(Path(settings.latent_model_dir), settings.torch_threads)


def _decoding(message: composer_pb2.Sampling):  # type: ignore[no-untyped-def]
    from symbolic.latent.space import Decoding

    if message.top_k > 130:
        raise InvalidInput(f"top_k {message.top_k} is more than the model's 130 classes")
    return Decoding(temperature=float(message.temperature), top_k=int(message.top_k), seed=int(message.seed) % (2**63))


def _read_clip(what: str, data: bytes, settings: Settings):  # type: ignore[no-untyped-def]
    from symbolic.latent.representation import midi_to_clip

    check_size(what, data, settings.limits.max_midi_bytes)
    try:
        return midi_to_clip(data, max_bars=settings.limits.max_bars)
    except InvalidInput as error:
        raise InvalidInput(f"{what}: {error}") from error


def clip_message(clip, seed: int) -> composer_pb2.Clip:  # type: ignore[no-untyped-def]
    """A grid clip as a Clip message: MIDI bytes, NoteSequence, requested (meter, tempo, bars,
    instrument) and the attributes the shared extractor measures on the output."""
    from server.services.composer import attributes_to_proto
    from symbolic import midi_io
    from symbolic.attributes import Attributes, extract
    from symbolic.latent.representation import clip_to_midi

    midi = clip_to_midi(clip)
    time_signature = (clip.time_signature.numerator, clip.time_signature.denominator)
    parsed = midi_io.midi_to_clip(midi)
    parsed.bars = clip.num_bars
    measured = extract(parsed.table, time_signature, clip.tempo_bpm, bars=clip.num_bars)
    requested = Attributes(instruments=[int(clip.program)], time_signature=time_signature,
                           tempo_bpm=float(clip.tempo_bpm), bars=clip.num_bars)
    return composer_pb2.Clip(midi=midi, note_sequence=midi_io.clip_to_note_sequence(parsed),
                             requested=attributes_to_proto(requested), measured=attributes_to_proto(measured),
                             seed=seed)


def _stream_clips(context: grpc.ServicerContext, work: Callable, response_type, seed: int) -> Iterator:  # type: ignore[type-arg]
    started = time.monotonic()

    def to_response(event: object):  # type: ignore[no-untyped-def]
        if isinstance(event, ProgressEvent):
            return response_type(progress=progress_message(event, started))
        return None

    clips = yield from stream_work(context, work, to_response)
    for clip in clips:
        yield response_type(clip=clip_message(clip, seed))


def _seed(message: composer_pb2.Sampling) -> int:
    import secrets

    return int(message.seed) if message.seed else secrets.randbelow(2**31) + 1


def vary(request: composer_pb2.VaryRequest, context: grpc.ServicerContext,
         settings: Settings) -> Iterator[composer_pb2.VaryResponse]:
    """num_variations clips near the request's clip (streamed Progress, then one Clip each)."""
    limits = settings.limits
    if request.num_variations > limits.max_variations:
        from ostinato.errors import LimitExceeded

        raise LimitExceeded("num_variations", request.num_variations, limits.max_variations)
    if request.num_variations < 1:
        raise InvalidInput("num_variations is 0: ask for 1-16 variations")
    if not 0.0 <= request.similarity_distance <= 1.0:
        raise InvalidInput(f"similarity_distance {request.similarity_distance:g} is out of range: use 0-1")
    clip = _read_clip("midi", request.midi, settings)
    shifts: dict[str, float] = {}
    for shift in request.shifts:
        shifts[shift.attribute] = shifts.get(shift.attribute, 0.0) + float(shift.amount)
    seed = _seed(request.sampling)
    sampling = composer_pb2.Sampling(seed=seed, temperature=request.sampling.temperature,
                                     top_k=request.sampling.top_k)
    decoding = _decoding(sampling)
    space = load_space(settings)

    def work(emit: Callable[[object], None], token: CancelToken):  # type: ignore[no-untyped-def]
        return space.vary(clip, int(request.num_variations), float(request.similarity_distance), shifts, decoding,
                          max_variations=limits.max_variations, progress=emit, cancel=token)

    yield from _stream_clips(context, work, composer_pb2.VaryResponse, seed)


def interpolate(request: composer_pb2.InterpolateRequest, context: grpc.ServicerContext,
                settings: Settings) -> Iterator[composer_pb2.InterpolateResponse]:
    """`steps` clips from start to end through the latent space, endpoints included."""
    limits = settings.limits
    if request.steps > limits.max_interpolation_steps:
        from ostinato.errors import LimitExceeded

        raise LimitExceeded("interpolation steps", request.steps, limits.max_interpolation_steps)
    if request.steps < 1:
        raise InvalidInput(f"steps is 0: ask for 1-{limits.max_interpolation_steps} clips")
    start = _read_clip("start_midi", request.start_midi, settings)
    end = _read_clip("end_midi", request.end_midi, settings)
    seed = _seed(request.sampling)
    decoding = _decoding(composer_pb2.Sampling(seed=seed, temperature=request.sampling.temperature,
                                               top_k=request.sampling.top_k))
    space = load_space(settings)

    def work(emit: Callable[[object], None], token: CancelToken):  # type: ignore[no-untyped-def]
        return space.interpolate(start, end, int(request.steps), decoding,
                                 max_steps=limits.max_interpolation_steps, progress=emit, cancel=token)

    yield from _stream_clips(context, work, composer_pb2.InterpolateResponse, seed)
