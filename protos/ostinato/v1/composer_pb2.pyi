from protos.third_party import note_seq_music_pb2 as _music_pb2
from protos.ostinato.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODE_UNSPECIFIED: _ClassVar[Mode]
    MODE_MAJOR: _ClassVar[Mode]
    MODE_MINOR: _ClassVar[Mode]
    MODE_DORIAN: _ClassVar[Mode]
    MODE_PHRYGIAN: _ClassVar[Mode]
    MODE_LYDIAN: _ClassVar[Mode]
    MODE_MIXOLYDIAN: _ClassVar[Mode]
    MODE_LOCRIAN: _ClassVar[Mode]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_MELODY: _ClassVar[Role]
    ROLE_HARMONY: _ClassVar[Role]
    ROLE_BASS: _ClassVar[Role]
    ROLE_DRUMS: _ClassVar[Role]
    ROLE_COUNTER_MELODY: _ClassVar[Role]
    ROLE_CHORDS: _ClassVar[Role]
    ROLE_PAD: _ClassVar[Role]
    ROLE_ARPEGGIO: _ClassVar[Role]
MODE_UNSPECIFIED: Mode
MODE_MAJOR: Mode
MODE_MINOR: Mode
MODE_DORIAN: Mode
MODE_PHRYGIAN: Mode
MODE_LYDIAN: Mode
MODE_MIXOLYDIAN: Mode
MODE_LOCRIAN: Mode
ROLE_UNSPECIFIED: Role
ROLE_MELODY: Role
ROLE_HARMONY: Role
ROLE_BASS: Role
ROLE_DRUMS: Role
ROLE_COUNTER_MELODY: Role
ROLE_CHORDS: Role
ROLE_PAD: Role
ROLE_ARPEGGIO: Role

class Key(_message.Message):
    __slots__ = ("tonic_pitch_class", "mode")
    TONIC_PITCH_CLASS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    tonic_pitch_class: int
    mode: Mode
    def __init__(self, tonic_pitch_class: _Optional[int] = ..., mode: _Optional[_Union[Mode, str]] = ...) -> None: ...

class TimeSignature(_message.Message):
    __slots__ = ("numerator", "denominator")
    NUMERATOR_FIELD_NUMBER: _ClassVar[int]
    DENOMINATOR_FIELD_NUMBER: _ClassVar[int]
    numerator: int
    denominator: int
    def __init__(self, numerator: _Optional[int] = ..., denominator: _Optional[int] = ...) -> None: ...

class Instrument(_message.Message):
    __slots__ = ("program", "is_drum", "name", "role")
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    IS_DRUM_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    program: int
    is_drum: bool
    name: str
    role: Role
    def __init__(self, program: _Optional[int] = ..., is_drum: _Optional[bool] = ..., name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ...) -> None: ...

class PitchRange(_message.Message):
    __slots__ = ("lowest_pitch", "highest_pitch")
    LOWEST_PITCH_FIELD_NUMBER: _ClassVar[int]
    HIGHEST_PITCH_FIELD_NUMBER: _ClassVar[int]
    lowest_pitch: int
    highest_pitch: int
    def __init__(self, lowest_pitch: _Optional[int] = ..., highest_pitch: _Optional[int] = ...) -> None: ...

class Attributes(_message.Message):
    __slots__ = ("instruments", "key", "time_signature", "tempo_bpm", "bars", "pitch_range", "pitch_range_octaves", "notes_per_bar", "rhythm_intensity", "duration_s", "style", "polyphony", "chords")
    INSTRUMENTS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TIME_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    TEMPO_BPM_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    PITCH_RANGE_FIELD_NUMBER: _ClassVar[int]
    PITCH_RANGE_OCTAVES_FIELD_NUMBER: _ClassVar[int]
    NOTES_PER_BAR_FIELD_NUMBER: _ClassVar[int]
    RHYTHM_INTENSITY_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    POLYPHONY_FIELD_NUMBER: _ClassVar[int]
    CHORDS_FIELD_NUMBER: _ClassVar[int]
    instruments: _containers.RepeatedCompositeFieldContainer[Instrument]
    key: Key
    time_signature: TimeSignature
    tempo_bpm: float
    bars: int
    pitch_range: PitchRange
    pitch_range_octaves: float
    notes_per_bar: float
    rhythm_intensity: float
    duration_s: float
    style: str
    polyphony: float
    chords: str
    def __init__(self, instruments: _Optional[_Iterable[_Union[Instrument, _Mapping]]] = ..., key: _Optional[_Union[Key, _Mapping]] = ..., time_signature: _Optional[_Union[TimeSignature, _Mapping]] = ..., tempo_bpm: _Optional[float] = ..., bars: _Optional[int] = ..., pitch_range: _Optional[_Union[PitchRange, _Mapping]] = ..., pitch_range_octaves: _Optional[float] = ..., notes_per_bar: _Optional[float] = ..., rhythm_intensity: _Optional[float] = ..., duration_s: _Optional[float] = ..., style: _Optional[str] = ..., polyphony: _Optional[float] = ..., chords: _Optional[str] = ...) -> None: ...

class Sampling(_message.Message):
    __slots__ = ("seed", "temperature", "top_k", "candidates")
    SEED_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    seed: int
    temperature: float
    top_k: int
    candidates: int
    def __init__(self, seed: _Optional[int] = ..., temperature: _Optional[float] = ..., top_k: _Optional[int] = ..., candidates: _Optional[int] = ...) -> None: ...

class Clip(_message.Message):
    __slots__ = ("midi", "note_sequence", "requested", "measured", "seed")
    MIDI_FIELD_NUMBER: _ClassVar[int]
    NOTE_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    MEASURED_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    midi: bytes
    note_sequence: _music_pb2.NoteSequence
    requested: Attributes
    measured: Attributes
    seed: int
    def __init__(self, midi: _Optional[bytes] = ..., note_sequence: _Optional[_Union[_music_pb2.NoteSequence, _Mapping]] = ..., requested: _Optional[_Union[Attributes, _Mapping]] = ..., measured: _Optional[_Union[Attributes, _Mapping]] = ..., seed: _Optional[int] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("attributes", "sampling", "text", "chords_midi")
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CHORDS_MIDI_FIELD_NUMBER: _ClassVar[int]
    attributes: Attributes
    sampling: Sampling
    text: str
    chords_midi: bytes
    def __init__(self, attributes: _Optional[_Union[Attributes, _Mapping]] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., text: _Optional[str] = ..., chords_midi: _Optional[bytes] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("progress", "clip")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    clip: Clip
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., clip: _Optional[_Union[Clip, _Mapping]] = ...) -> None: ...

class ParseTextRequest(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class ParseTextResponse(_message.Message):
    __slots__ = ("attributes", "understood", "ignored")
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    UNDERSTOOD_FIELD_NUMBER: _ClassVar[int]
    IGNORED_FIELD_NUMBER: _ClassVar[int]
    attributes: Attributes
    understood: _containers.RepeatedScalarFieldContainer[str]
    ignored: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, attributes: _Optional[_Union[Attributes, _Mapping]] = ..., understood: _Optional[_Iterable[str]] = ..., ignored: _Optional[_Iterable[str]] = ...) -> None: ...

class ContinueRequest(_message.Message):
    __slots__ = ("primer_midi", "bars", "sampling", "continuation_only", "changes", "entering", "leaving")
    PRIMER_MIDI_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    CONTINUATION_ONLY_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    ENTERING_FIELD_NUMBER: _ClassVar[int]
    LEAVING_FIELD_NUMBER: _ClassVar[int]
    primer_midi: bytes
    bars: int
    sampling: Sampling
    continuation_only: bool
    changes: Attributes
    entering: _containers.RepeatedCompositeFieldContainer[Instrument]
    leaving: _containers.RepeatedCompositeFieldContainer[Instrument]
    def __init__(self, primer_midi: _Optional[bytes] = ..., bars: _Optional[int] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., continuation_only: _Optional[bool] = ..., changes: _Optional[_Union[Attributes, _Mapping]] = ..., entering: _Optional[_Iterable[_Union[Instrument, _Mapping]]] = ..., leaving: _Optional[_Iterable[_Union[Instrument, _Mapping]]] = ...) -> None: ...

class ContinueResponse(_message.Message):
    __slots__ = ("progress", "clip")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    clip: Clip
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., clip: _Optional[_Union[Clip, _Mapping]] = ...) -> None: ...

class InfillRequest(_message.Message):
    __slots__ = ("midi", "bars", "tracks", "sampling")
    MIDI_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    midi: bytes
    bars: _containers.RepeatedScalarFieldContainer[int]
    tracks: _containers.RepeatedScalarFieldContainer[int]
    sampling: Sampling
    def __init__(self, midi: _Optional[bytes] = ..., bars: _Optional[_Iterable[int]] = ..., tracks: _Optional[_Iterable[int]] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ...) -> None: ...

class InfillResponse(_message.Message):
    __slots__ = ("progress", "clip")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    clip: Clip
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., clip: _Optional[_Union[Clip, _Mapping]] = ...) -> None: ...

class AttributeShift(_message.Message):
    __slots__ = ("attribute", "amount")
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    attribute: str
    amount: float
    def __init__(self, attribute: _Optional[str] = ..., amount: _Optional[float] = ...) -> None: ...

class VaryRequest(_message.Message):
    __slots__ = ("midi", "num_variations", "similarity_distance", "shifts", "sampling", "track", "family")
    MIDI_FIELD_NUMBER: _ClassVar[int]
    NUM_VARIATIONS_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    TRACK_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    midi: bytes
    num_variations: int
    similarity_distance: float
    shifts: _containers.RepeatedCompositeFieldContainer[AttributeShift]
    sampling: Sampling
    track: str
    family: str
    def __init__(self, midi: _Optional[bytes] = ..., num_variations: _Optional[int] = ..., similarity_distance: _Optional[float] = ..., shifts: _Optional[_Iterable[_Union[AttributeShift, _Mapping]]] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., track: _Optional[str] = ..., family: _Optional[str] = ...) -> None: ...

class VaryResponse(_message.Message):
    __slots__ = ("progress", "clip", "notice")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    clip: Clip
    notice: _common_pb2.Notice
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., clip: _Optional[_Union[Clip, _Mapping]] = ..., notice: _Optional[_Union[_common_pb2.Notice, _Mapping]] = ...) -> None: ...

class InterpolateRequest(_message.Message):
    __slots__ = ("start_midi", "end_midi", "steps", "sampling", "start_track", "end_track", "family")
    START_MIDI_FIELD_NUMBER: _ClassVar[int]
    END_MIDI_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    START_TRACK_FIELD_NUMBER: _ClassVar[int]
    END_TRACK_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    start_midi: bytes
    end_midi: bytes
    steps: int
    sampling: Sampling
    start_track: str
    end_track: str
    family: str
    def __init__(self, start_midi: _Optional[bytes] = ..., end_midi: _Optional[bytes] = ..., steps: _Optional[int] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., start_track: _Optional[str] = ..., end_track: _Optional[str] = ..., family: _Optional[str] = ...) -> None: ...

class InterpolateResponse(_message.Message):
    __slots__ = ("progress", "clip", "notice")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    clip: Clip
    notice: _common_pb2.Notice
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., clip: _Optional[_Union[Clip, _Mapping]] = ..., notice: _Optional[_Union[_common_pb2.Notice, _Mapping]] = ...) -> None: ...

class DescribeMidiRequest(_message.Message):
    __slots__ = ("midi",)
    MIDI_FIELD_NUMBER: _ClassVar[int]
    midi: bytes
    def __init__(self, midi: _Optional[bytes] = ...) -> None: ...

class DescribeMidiResponse(_message.Message):
    __slots__ = ("note_sequence", "attributes")
    NOTE_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    note_sequence: _music_pb2.NoteSequence
    attributes: Attributes
    def __init__(self, note_sequence: _Optional[_Union[_music_pb2.NoteSequence, _Mapping]] = ..., attributes: _Optional[_Union[Attributes, _Mapping]] = ...) -> None: ...

class DrumifyRequest(_message.Message):
    __slots__ = ("midi", "style", "merge", "sampling")
    MIDI_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    MERGE_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    midi: bytes
    style: str
    merge: bool
    sampling: Sampling
    def __init__(self, midi: _Optional[bytes] = ..., style: _Optional[str] = ..., merge: _Optional[bool] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ...) -> None: ...

class DrumifyResponse(_message.Message):
    __slots__ = ("progress", "clip")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    clip: Clip
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., clip: _Optional[_Union[Clip, _Mapping]] = ...) -> None: ...

class GrooveRequest(_message.Message):
    __slots__ = ("midi", "amount", "sampling")
    MIDI_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    midi: bytes
    amount: float
    sampling: Sampling
    def __init__(self, midi: _Optional[bytes] = ..., amount: _Optional[float] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ...) -> None: ...

class GrooveResponse(_message.Message):
    __slots__ = ("progress", "clip")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    clip: Clip
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., clip: _Optional[_Union[Clip, _Mapping]] = ...) -> None: ...
