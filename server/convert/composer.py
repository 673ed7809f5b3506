"""Composer messages <-> domain types (symbolic.attributes, symbolic.decoding, server.application jobs).

NoteSequence is built here, at the wire, from the generated messages in protos/third_party: the
note_seq package itself is never imported by the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ostinato.errors import InvalidInput
from protos.ostinato.v1 import composer_pb2
from protos.third_party import note_seq_music_pb2
from server.application.composing import ContinueJob, GenerateJob, InfillJob
from symbolic.attributes import DRUM_PROGRAM, MODES, Attributes, Key
from symbolic.decoding import Sampling
from symbolic.editing import SectionChange
from symbolic.instruments import program_for_name, program_name, role_of
from symbolic.midi_io import Clip, clip_to_note_sequence

if TYPE_CHECKING:
    from symbolic.composer import Generated

_MODE_TO_PROTO = {mode: composer_pb2.Mode.Value(f"MODE_{mode.upper()}") for mode in MODES}
_PROTO_TO_MODE = {value: mode for mode, value in _MODE_TO_PROTO.items()}
_ROLE_TO_PROTO = {
    "melody": composer_pb2.ROLE_MELODY, "harmony": composer_pb2.ROLE_HARMONY,
    "bass": composer_pb2.ROLE_BASS, "drums": composer_pb2.ROLE_DRUMS,
    "counter_melody": composer_pb2.ROLE_COUNTER_MELODY, "chords": composer_pb2.ROLE_CHORDS,
    "pad": composer_pb2.ROLE_PAD, "arpeggio": composer_pb2.ROLE_ARPEGGIO,
}
_PROTO_TO_ROLE = {value: role for role, value in _ROLE_TO_PROTO.items() if role != "harmony"}
_PROTO_TO_ROLE[composer_pb2.ROLE_HARMONY] = "chords"
_FLOAT_FIELDS = ("pitch_range_octaves", "notes_per_bar", "rhythm_intensity", "duration_s", "polyphony")
_SCALAR_FIELDS = ("tempo_bpm", "bars", "pitch_range_octaves", "notes_per_bar", "rhythm_intensity", "duration_s",
                  "style", "polyphony")


# ---- attributes and sampling --------------------------------------------------------------------
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
    roles = {program: _PROTO_TO_ROLE[instrument.role] for program, instrument in zip(programs, message.instruments)
             if instrument.role in _PROTO_TO_ROLE}
    attributes.roles = roles or None
    if message.HasField("chords"):
        attributes.chords = message.chords.strip() or None
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
    for name in _FLOAT_FIELDS:
        if message.HasField(name):
            setattr(attributes, name, float(getattr(message, name)))
    if message.HasField("style"):
        attributes.style = message.style.strip().lower() or None
    return attributes


def attributes_to_proto(attributes: Attributes) -> composer_pb2.Attributes:
    message = composer_pb2.Attributes()
    for program in attributes.instruments or []:
        is_drum = program == DRUM_PROGRAM
        role = (attributes.roles or {}).get(program) or role_of(program)
        message.instruments.add(program=0 if is_drum else program, is_drum=is_drum, name=program_name(program),
                                role=_ROLE_TO_PROTO[role])
    if attributes.key is not None:
        message.key.tonic_pitch_class = attributes.key.tonic_pitch_class
        message.key.mode = _MODE_TO_PROTO.get(attributes.key.mode, composer_pb2.MODE_UNSPECIFIED)
    if attributes.time_signature is not None:
        message.time_signature.numerator, message.time_signature.denominator = attributes.time_signature
    if attributes.pitch_low is not None and attributes.pitch_high is not None:
        message.pitch_range.lowest_pitch = attributes.pitch_low
        message.pitch_range.highest_pitch = attributes.pitch_high
    for name in _SCALAR_FIELDS:
        value = getattr(attributes, name)
        if value is not None:
            setattr(message, name, value)
    if attributes.chords:
        message.chords = attributes.chords
    return message


def sampling_from_proto(message: composer_pb2.Sampling) -> Sampling:
    """Zeros mean the model's defaults (checked by server.application.composing.check_sampling)."""
    defaults = Sampling()
    return Sampling(
        seed=int(message.seed) % (2**63),
        temperature=float(message.temperature) or defaults.temperature,
        top_k=int(message.top_k) or defaults.top_k,
    )


# ---- requests -> jobs ---------------------------------------------------------------------------
def generate_job(request: composer_pb2.GenerateRequest) -> GenerateJob:
    return GenerateJob(attributes=attributes_from_proto(request.attributes), text=request.text,
                       sampling=sampling_from_proto(request.sampling), candidates=int(request.sampling.candidates),
                       chords_midi=request.chords_midi)


def continue_job(request: composer_pb2.ContinueRequest) -> ContinueJob:
    return ContinueJob(primer_midi=request.primer_midi, bars=int(request.bars),
                       sampling=sampling_from_proto(request.sampling), continuation_only=request.continuation_only,
                       change=section_change_from_proto(request))


def section_change_from_proto(request: composer_pb2.ContinueRequest) -> SectionChange | None:
    """What changes at a continuation's start (key, tempo, meter, density, instruments); None: nothing."""
    if not request.HasField("changes") and not request.entering and not request.leaving:
        return None
    changes = attributes_from_proto(request.changes)
    entering = attributes_from_proto(composer_pb2.Attributes(instruments=request.entering)).instruments or []
    leaving = attributes_from_proto(composer_pb2.Attributes(instruments=request.leaving)).instruments or []
    return SectionChange(key=changes.key, tempo_bpm=changes.tempo_bpm, time_signature=changes.time_signature,
                         rhythm_intensity=changes.rhythm_intensity, notes_per_bar=changes.notes_per_bar,
                         instruments=changes.instruments, entering=entering, leaving=leaving)


def infill_job(request: composer_pb2.InfillRequest) -> InfillJob:
    return InfillJob(midi=request.midi, bars=list(request.bars), tracks=list(request.tracks),
                     sampling=sampling_from_proto(request.sampling))


# ---- results -> messages ------------------------------------------------------------------------
def note_sequence(clip: Clip) -> note_seq_music_pb2.NoteSequence:
    """The clip as the wire's NoteSequence (symbolic.midi_io.clip_to_note_sequence fills it)."""
    return clip_to_note_sequence(clip, note_seq_music_pb2.NoteSequence())


def clip_to_proto(generated: "Generated") -> composer_pb2.Clip:
    """A generated clip (Composer or latent space) as the Clip message."""
    return composer_pb2.Clip(
        midi=generated.midi,
        note_sequence=note_sequence(generated.clip),
        requested=attributes_to_proto(generated.requested),
        measured=attributes_to_proto(generated.measured),
        seed=generated.seed,
    )


def describe_response(clip: Clip, attributes: Attributes) -> composer_pb2.DescribeMidiResponse:
    return composer_pb2.DescribeMidiResponse(note_sequence=note_sequence(clip),
                                             attributes=attributes_to_proto(attributes))
