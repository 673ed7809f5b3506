from protos.ostinato.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Effects(_message.Message):
    __slots__ = ("reverb_enabled", "reverb_room_size", "reverb_damping", "reverb_width", "reverb_level", "chorus_enabled", "chorus_voices", "chorus_level", "chorus_speed_hz", "chorus_depth_ms")
    REVERB_ENABLED_FIELD_NUMBER: _ClassVar[int]
    REVERB_ROOM_SIZE_FIELD_NUMBER: _ClassVar[int]
    REVERB_DAMPING_FIELD_NUMBER: _ClassVar[int]
    REVERB_WIDTH_FIELD_NUMBER: _ClassVar[int]
    REVERB_LEVEL_FIELD_NUMBER: _ClassVar[int]
    CHORUS_ENABLED_FIELD_NUMBER: _ClassVar[int]
    CHORUS_VOICES_FIELD_NUMBER: _ClassVar[int]
    CHORUS_LEVEL_FIELD_NUMBER: _ClassVar[int]
    CHORUS_SPEED_HZ_FIELD_NUMBER: _ClassVar[int]
    CHORUS_DEPTH_MS_FIELD_NUMBER: _ClassVar[int]
    reverb_enabled: bool
    reverb_room_size: float
    reverb_damping: float
    reverb_width: float
    reverb_level: float
    chorus_enabled: bool
    chorus_voices: int
    chorus_level: float
    chorus_speed_hz: float
    chorus_depth_ms: float
    def __init__(self, reverb_enabled: _Optional[bool] = ..., reverb_room_size: _Optional[float] = ..., reverb_damping: _Optional[float] = ..., reverb_width: _Optional[float] = ..., reverb_level: _Optional[float] = ..., chorus_enabled: _Optional[bool] = ..., chorus_voices: _Optional[int] = ..., chorus_level: _Optional[float] = ..., chorus_speed_hz: _Optional[float] = ..., chorus_depth_ms: _Optional[float] = ...) -> None: ...

class RenderMidiRequest(_message.Message):
    __slots__ = ("midi", "soundfont", "sample_rate_hz", "channels", "chunk_frames", "stems", "effects", "gain", "tail_s")
    MIDI_FIELD_NUMBER: _ClassVar[int]
    SOUNDFONT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FRAMES_FIELD_NUMBER: _ClassVar[int]
    STEMS_FIELD_NUMBER: _ClassVar[int]
    EFFECTS_FIELD_NUMBER: _ClassVar[int]
    GAIN_FIELD_NUMBER: _ClassVar[int]
    TAIL_S_FIELD_NUMBER: _ClassVar[int]
    midi: bytes
    soundfont: str
    sample_rate_hz: int
    channels: int
    chunk_frames: int
    stems: bool
    effects: Effects
    gain: float
    tail_s: float
    def __init__(self, midi: _Optional[bytes] = ..., soundfont: _Optional[str] = ..., sample_rate_hz: _Optional[int] = ..., channels: _Optional[int] = ..., chunk_frames: _Optional[int] = ..., stems: _Optional[bool] = ..., effects: _Optional[_Union[Effects, _Mapping]] = ..., gain: _Optional[float] = ..., tail_s: _Optional[float] = ...) -> None: ...

class RenderSummary(_message.Message):
    __slots__ = ("duration_s", "total_frames", "peak", "stems", "render_s")
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FRAMES_FIELD_NUMBER: _ClassVar[int]
    PEAK_FIELD_NUMBER: _ClassVar[int]
    STEMS_FIELD_NUMBER: _ClassVar[int]
    RENDER_S_FIELD_NUMBER: _ClassVar[int]
    duration_s: float
    total_frames: int
    peak: float
    stems: _containers.RepeatedScalarFieldContainer[str]
    render_s: float
    def __init__(self, duration_s: _Optional[float] = ..., total_frames: _Optional[int] = ..., peak: _Optional[float] = ..., stems: _Optional[_Iterable[str]] = ..., render_s: _Optional[float] = ...) -> None: ...

class RenderMidiResponse(_message.Message):
    __slots__ = ("progress", "format", "chunk", "summary", "notice")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    format: _common_pb2.AudioFormat
    chunk: _common_pb2.AudioChunk
    summary: RenderSummary
    notice: _common_pb2.Notice
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., format: _Optional[_Union[_common_pb2.AudioFormat, _Mapping]] = ..., chunk: _Optional[_Union[_common_pb2.AudioChunk, _Mapping]] = ..., summary: _Optional[_Union[RenderSummary, _Mapping]] = ..., notice: _Optional[_Union[_common_pb2.Notice, _Mapping]] = ...) -> None: ...

class ListSoundFontsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SoundFontInfo(_message.Message):
    __slots__ = ("name", "path", "size_bytes", "is_default")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    name: str
    path: str
    size_bytes: int
    is_default: bool
    def __init__(self, name: _Optional[str] = ..., path: _Optional[str] = ..., size_bytes: _Optional[int] = ..., is_default: _Optional[bool] = ...) -> None: ...

class ListSoundFontsResponse(_message.Message):
    __slots__ = ("soundfonts",)
    SOUNDFONTS_FIELD_NUMBER: _ClassVar[int]
    soundfonts: _containers.RepeatedCompositeFieldContainer[SoundFontInfo]
    def __init__(self, soundfonts: _Optional[_Iterable[_Union[SoundFontInfo, _Mapping]]] = ...) -> None: ...
