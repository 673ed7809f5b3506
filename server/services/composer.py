"""Composer servicer: converts between protobuf and symbolic/'s domain types and calls it."""

from __future__ import annotations

import threading
import time
from typing import Callable

import grpc

from ostinato.errors import InvalidInput
from ostinato.runtime import CancelToken, ProgressEvent
from protos.ostinato.v1 import composer_pb2, composer_pb2_grpc
from server.rpc import check_size, handle_errors, progress_message, stream_work
from server.settings import Settings
from symbolic.attributes import DRUM_PROGRAM, MODES, Attributes, Key, extract
from symbolic.decoding import Sampling
from symbolic.instruments import program_for_name, program_name, role_of
from symbolic.midi_io import clip_to_note_sequence, midi_to_clip, midi_to_note_sequence

MAX_CANDIDATES = 8
SERVICE_NAME = composer_pb2.DESCRIPTOR.services_by_name["Composer"].full_name

_MODE_TO_PROTO = {mode: composer_pb2.Mode.Value(f"MODE_{mode.upper()}") for mode in MODES}
_PROTO_TO_MODE = {value: mode for mode, value in _MODE_TO_PROTO.items()}
_ROLE_TO_PROTO = {
    "melody": composer_pb2.ROLE_MELODY, "harmony": composer_pb2.ROLE_HARMONY,
    "bass": composer_pb2.ROLE_BASS, "drums": composer_pb2.ROLE_DRUMS,
}


# ---- protobuf <-> domain ------------------------------------------------------------------------
def attributes_from_proto(message: composer_pb2.Attributes) -> Attributes:
    """Request attributes; unset fields stay None (the model samples them)."""
    programs = []
    for instrument in message.instruments:
        if instrument.name:
            programs.append(program_for_name(instrument.name))
        elif instrument.is_drum:
            programs.append(DRUM_PROGRAM)
        elif instrument.program > 127:
            raise InvalidInput(f"instrument program {instrument.program} is not a General MIDI program (0-127)")
        else:
            programs.append(int(instrument.program))
    attributes = Attributes(instruments=programs or None)
    if message.HasField("key"):
        mode = _PROTO_TO_MODE.get(message.key.mode)
        if message.key.tonic_pitch_class > 11:
            raise InvalidInput(f"key tonic_pitch_class {message.key.tonic_pitch_class} must be 0-11")
        attributes.key = Key(int(message.key.tonic_pitch_class), mode)  # type: ignore[arg-type]
    if message.HasField("time_signature"):
        attributes.time_signature = (int(message.time_signature.numerator), int(message.time_signature.denominator))
    if message.HasField("tempo_bpm"):
        attributes.tempo_bpm = float(message.tempo_bpm)
    if message.HasField("bars"):
        attributes.bars = int(message.bars)
    if message.HasField("pitch_range"):
        attributes.pitch_low = int(message.pitch_range.lowest_pitch)
        attributes.pitch_high = int(message.pitch_range.highest_pitch)
    for name in ("pitch_range_octaves", "notes_per_bar", "rhythm_intensity", "duration_s", "polyphony"):
        if message.HasField(name):
            setattr(attributes, name, float(getattr(message, name)))
    if message.HasField("style"):
        attributes.style = message.style.strip().lower() or None
    return attributes


def merge_attributes(explicit: Attributes, from_text: Attributes) -> Attributes:
    """Explicit fields win; text fills the rest."""
    merged = Attributes()
    for name in Attributes.__dataclass_fields__:
        if name == "extra":
            continue
        value = getattr(explicit, name)
        setattr(merged, name, value if value is not None else getattr(from_text, name))
    return merged


def attributes_to_proto(attributes: Attributes) -> composer_pb2.Attributes:
    message = composer_pb2.Attributes()
    for program in attributes.instruments or []:
        is_drum = program == DRUM_PROGRAM
        message.instruments.add(program=0 if is_drum else program, is_drum=is_drum, name=program_name(program),
                                role=_ROLE_TO_PROTO[role_of(program)])
    if attributes.key is not None:
        message.key.tonic_pitch_class = attributes.key.tonic_pitch_class
        message.key.mode = _MODE_TO_PROTO.get(attributes.key.mode, composer_pb2.MODE_UNSPECIFIED)
    if attributes.time_signature is not None:
        message.time_signature.numerator, message.time_signature.denominator = attributes.time_signature
    if attributes.pitch_low is not None and attributes.pitch_high is not None:
        message.pitch_range.lowest_pitch = attributes.pitch_low
        message.pitch_range.highest_pitch = attributes.pitch_high
    for name in ("tempo_bpm", "bars", "pitch_range_octaves", "notes_per_bar", "rhythm_intensity", "duration_s",
                 "style", "polyphony"):
        value = getattr(attributes, name)
        if value is not None:
            setattr(message, name, value)
    return message


def sampling_from_proto(message: composer_pb2.Sampling) -> Sampling:
    defaults = Sampling()
    if message.temperature and not 0.1 <= message.temperature <= 2.0:
        raise InvalidInput(f"temperature {message.temperature:g} is outside 0.1-2.0")
    if message.top_k > 512:
        raise InvalidInput("top_k must be at most 512")
    return Sampling(
        seed=int(message.seed) % (2**63),
        temperature=float(message.temperature) or defaults.temperature,
        top_k=int(message.top_k) or defaults.top_k,
    )


def clip_to_proto(generated) -> composer_pb2.Clip:  # type: ignore[no-untyped-def]
    return composer_pb2.Clip(
        midi=generated.midi,
        note_sequence=clip_to_note_sequence(generated.clip),
        requested=attributes_to_proto(generated.requested),
        measured=attributes_to_proto(generated.measured),
        seed=generated.seed,
    )


# ---- servicer -----------------------------------------------------------------------------------
class ComposerServicer(composer_pb2_grpc.ComposerServicer):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._composer = None
        self._lock = threading.Lock()
        if settings.preload_models:
            self._model()

    def _model(self):  # type: ignore[no-untyped-def]
        """The generator, loaded on first use (MissingAsset -> FAILED_PRECONDITION if absent)."""
        with self._lock:
            if self._composer is None:
                import torch

                from symbolic.composer import Composer, Limits

                torch.set_num_threads(self._settings.torch_threads)
                limits = self._settings.limits
                self._composer = Composer.from_pretrained(
                    self._settings.composer_model_dir,
                    Limits(max_bars=limits.max_bars, max_primer_bars=limits.max_bars))
            return self._composer

    def _stream(self, context: grpc.ServicerContext, work: Callable, response_type):  # type: ignore[no-untyped-def]
        started = time.monotonic()

        def run(emit: Callable[[object], None], token: CancelToken):  # type: ignore[no-untyped-def]
            return work(emit, token)

        def to_response(event: object):  # type: ignore[no-untyped-def]
            if isinstance(event, ProgressEvent):
                return response_type(progress=progress_message(event, started))
            return None

        generated = yield from stream_work(context, run, to_response)
        yield response_type(clip=clip_to_proto(generated))

    @handle_errors
    def Generate(self, request: composer_pb2.GenerateRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        attributes = attributes_from_proto(request.attributes)
        if request.text:
            from symbolic.text import parse_text

            parsed = parse_text(request.text, max_bars=self._settings.limits.max_bars)
            attributes = merge_attributes(attributes, parsed.attributes)
        sampling = sampling_from_proto(request.sampling)
        if request.sampling.candidates > MAX_CANDIDATES:
            from ostinato.errors import LimitExceeded

            raise LimitExceeded("candidates", request.sampling.candidates, MAX_CANDIDATES)
        candidates = max(1, int(request.sampling.candidates))
        composer = self._model()
        yield from self._stream(
            context,
            lambda emit, token: composer.generate(attributes, sampling, candidates=candidates, progress=emit,
                                                  cancel=token),
            composer_pb2.GenerateResponse)

    @handle_errors
    def ParseText(self, request: composer_pb2.ParseTextRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        from symbolic.text import parse_text

        limits = self._settings.limits
        if len(request.text) > limits.max_text_chars:
            from ostinato.errors import LimitExceeded

            raise LimitExceeded("text", len(request.text), limits.max_text_chars, "characters")
        parsed = parse_text(request.text, max_bars=limits.max_bars)
        return composer_pb2.ParseTextResponse(attributes=attributes_to_proto(parsed.attributes),
                                              understood=parsed.understood, ignored=parsed.ignored)

    @handle_errors
    def Continue(self, request: composer_pb2.ContinueRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        check_size("primer_midi", request.primer_midi, self._settings.limits.max_midi_bytes)
        sampling = sampling_from_proto(request.sampling)
        composer = self._model()
        yield from self._stream(
            context,
            lambda emit, token: composer.continue_clip(
                request.primer_midi, int(request.bars), sampling, continuation_only=request.continuation_only,
                progress=emit, cancel=token),
            composer_pb2.ContinueResponse)

    @handle_errors
    def Infill(self, request: composer_pb2.InfillRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        check_size("midi", request.midi, self._settings.limits.max_midi_bytes)
        sampling = sampling_from_proto(request.sampling)
        composer = self._model()
        bars, tracks = list(request.bars), list(request.tracks)
        yield from self._stream(
            context,
            lambda emit, token: composer.infill(request.midi, bars, tracks, sampling, progress=emit, cancel=token),
            composer_pb2.InfillResponse)

    @handle_errors
    def Vary(self, request: composer_pb2.VaryRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        from server.services import latent  # the latent space is served by its own module

        yield from latent.vary(request, context, self._settings)

    @handle_errors
    def Interpolate(self, request: composer_pb2.InterpolateRequest, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        from server.services import latent

        yield from latent.interpolate(request, context, self._settings)

    @handle_errors
    def DescribeMidi(
        self, request: composer_pb2.DescribeMidiRequest, context: grpc.ServicerContext
    ) -> composer_pb2.DescribeMidiResponse:
        check_size("midi", request.midi, self._settings.limits.max_midi_bytes)
        clip = midi_to_clip(request.midi)
        attributes = extract(clip.table, clip.time_signature, clip.tempo_bpm, bars=clip.bars)
        return composer_pb2.DescribeMidiResponse(note_sequence=midi_to_note_sequence(request.midi),
                                                 attributes=attributes_to_proto(attributes))


def add_to_server(server: grpc.Server, settings: Settings) -> str:
    composer_pb2_grpc.add_ComposerServicer_to_server(ComposerServicer(settings), server)
    return SERVICE_NAME
