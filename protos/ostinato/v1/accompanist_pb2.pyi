from protos.ostinato.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccompanyModel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOMPANY_MODEL_UNSPECIFIED: _ClassVar[AccompanyModel]
    ACCOMPANY_MODEL_TOKENS: _ClassVar[AccompanyModel]
    ACCOMPANY_MODEL_COMPOSER: _ClassVar[AccompanyModel]

class Part(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PART_UNSPECIFIED: _ClassVar[Part]
    PART_DRUMS: _ClassVar[Part]
    PART_BACKING: _ClassVar[Part]
ACCOMPANY_MODEL_UNSPECIFIED: AccompanyModel
ACCOMPANY_MODEL_TOKENS: AccompanyModel
ACCOMPANY_MODEL_COMPOSER: AccompanyModel
PART_UNSPECIFIED: Part
PART_DRUMS: Part
PART_BACKING: Part

class AccompanyRequest(_message.Message):
    __slots__ = ("audio", "part", "seed", "mix", "temperature", "model")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    PART_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MIX_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    audio: bytes
    part: Part
    seed: int
    mix: bool
    temperature: float
    model: AccompanyModel
    def __init__(self, audio: _Optional[bytes] = ..., part: _Optional[_Union[Part, str]] = ..., seed: _Optional[int] = ..., mix: _Optional[bool] = ..., temperature: _Optional[float] = ..., model: _Optional[_Union[AccompanyModel, str]] = ...) -> None: ...

class AccompanySummary(_message.Message):
    __slots__ = ("beat_times_s", "downbeats", "tempo_bpm", "duration_s", "first_chunk_s", "compute_s", "model", "route", "key", "chords")
    BEAT_TIMES_S_FIELD_NUMBER: _ClassVar[int]
    DOWNBEATS_FIELD_NUMBER: _ClassVar[int]
    TEMPO_BPM_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    FIRST_CHUNK_S_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_S_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    CHORDS_FIELD_NUMBER: _ClassVar[int]
    beat_times_s: _containers.RepeatedScalarFieldContainer[float]
    downbeats: _containers.RepeatedScalarFieldContainer[bool]
    tempo_bpm: float
    duration_s: float
    first_chunk_s: float
    compute_s: float
    model: str
    route: AccompanyModel
    key: str
    chords: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, beat_times_s: _Optional[_Iterable[float]] = ..., downbeats: _Optional[_Iterable[bool]] = ..., tempo_bpm: _Optional[float] = ..., duration_s: _Optional[float] = ..., first_chunk_s: _Optional[float] = ..., compute_s: _Optional[float] = ..., model: _Optional[str] = ..., route: _Optional[_Union[AccompanyModel, str]] = ..., key: _Optional[str] = ..., chords: _Optional[_Iterable[str]] = ...) -> None: ...

class AccompanyResponse(_message.Message):
    __slots__ = ("progress", "format", "chunk", "notice", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    format: _common_pb2.AudioFormat
    chunk: _common_pb2.AudioChunk
    notice: _common_pb2.Notice
    summary: AccompanySummary
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., format: _Optional[_Union[_common_pb2.AudioFormat, _Mapping]] = ..., chunk: _Optional[_Union[_common_pb2.AudioChunk, _Mapping]] = ..., notice: _Optional[_Union[_common_pb2.Notice, _Mapping]] = ..., summary: _Optional[_Union[AccompanySummary, _Mapping]] = ...) -> None: ...
