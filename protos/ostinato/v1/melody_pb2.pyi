from protos.ostinato.v1 import common_pb2 as _common_pb2
from protos.ostinato.v1 import renderer_pb2 as _renderer_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GenerateFromMelodyRequest(_message.Message):
    __slots__ = ("audio", "midi", "text", "duration_s", "seed", "guidance_scale", "temperature", "top_k", "remove_drums_and_bass", "render", "chunk_frames")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    MIDI_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    REMOVE_DRUMS_AND_BASS_FIELD_NUMBER: _ClassVar[int]
    RENDER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FRAMES_FIELD_NUMBER: _ClassVar[int]
    audio: bytes
    midi: bytes
    text: str
    duration_s: float
    seed: int
    guidance_scale: float
    temperature: float
    top_k: int
    remove_drums_and_bass: bool
    render: _renderer_pb2.RenderMidiRequest
    chunk_frames: int
    def __init__(self, audio: _Optional[bytes] = ..., midi: _Optional[bytes] = ..., text: _Optional[str] = ..., duration_s: _Optional[float] = ..., seed: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., temperature: _Optional[float] = ..., top_k: _Optional[int] = ..., remove_drums_and_bass: _Optional[bool] = ..., render: _Optional[_Union[_renderer_pb2.RenderMidiRequest, _Mapping]] = ..., chunk_frames: _Optional[int] = ...) -> None: ...

class GenerationSummary(_message.Message):
    __slots__ = ("duration_s", "compute_s", "first_chunk_s", "chroma_cosine", "seed", "model")
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_S_FIELD_NUMBER: _ClassVar[int]
    FIRST_CHUNK_S_FIELD_NUMBER: _ClassVar[int]
    CHROMA_COSINE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    duration_s: float
    compute_s: float
    first_chunk_s: float
    chroma_cosine: float
    seed: int
    model: str
    def __init__(self, duration_s: _Optional[float] = ..., compute_s: _Optional[float] = ..., first_chunk_s: _Optional[float] = ..., chroma_cosine: _Optional[float] = ..., seed: _Optional[int] = ..., model: _Optional[str] = ...) -> None: ...

class GenerateFromMelodyResponse(_message.Message):
    __slots__ = ("progress", "format", "chunk", "summary", "notice")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    format: _common_pb2.AudioFormat
    chunk: _common_pb2.AudioChunk
    summary: GenerationSummary
    notice: _common_pb2.Notice
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., format: _Optional[_Union[_common_pb2.AudioFormat, _Mapping]] = ..., chunk: _Optional[_Union[_common_pb2.AudioChunk, _Mapping]] = ..., summary: _Optional[_Union[GenerationSummary, _Mapping]] = ..., notice: _Optional[_Union[_common_pb2.Notice, _Mapping]] = ...) -> None: ...

class DescribeMelodyModelRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeMelodyModelResponse(_message.Message):
    __slots__ = ("name", "sample_rate_hz", "frame_rate_hz", "window_s", "parameters", "source")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    sample_rate_hz: int
    frame_rate_hz: float
    window_s: float
    parameters: int
    source: str
    def __init__(self, name: _Optional[str] = ..., sample_rate_hz: _Optional[int] = ..., frame_rate_hz: _Optional[float] = ..., window_s: _Optional[float] = ..., parameters: _Optional[int] = ..., source: _Optional[str] = ...) -> None: ...
