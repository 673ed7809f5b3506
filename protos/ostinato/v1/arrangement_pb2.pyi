from protos.ostinato.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ArrangeRequest(_message.Message):
    __slots__ = ("arrangement_toml", "source_name", "files", "cache", "render_audio", "stems", "soundfont", "sample_rate_hz")
    class FilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    class CacheEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    ARRANGEMENT_TOML_FIELD_NUMBER: _ClassVar[int]
    SOURCE_NAME_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    RENDER_AUDIO_FIELD_NUMBER: _ClassVar[int]
    STEMS_FIELD_NUMBER: _ClassVar[int]
    SOUNDFONT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    arrangement_toml: str
    source_name: str
    files: _containers.ScalarMap[str, bytes]
    cache: _containers.ScalarMap[str, bytes]
    render_audio: bool
    stems: bool
    soundfont: str
    sample_rate_hz: int
    def __init__(self, arrangement_toml: _Optional[str] = ..., source_name: _Optional[str] = ..., files: _Optional[_Mapping[str, bytes]] = ..., cache: _Optional[_Mapping[str, bytes]] = ..., render_audio: _Optional[bool] = ..., stems: _Optional[bool] = ..., soundfont: _Optional[str] = ..., sample_rate_hz: _Optional[int] = ...) -> None: ...

class TrackNotes(_message.Message):
    __slots__ = ("name", "notes", "bars_with_notes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    BARS_WITH_NOTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    notes: int
    bars_with_notes: int
    def __init__(self, name: _Optional[str] = ..., notes: _Optional[int] = ..., bars_with_notes: _Optional[int] = ...) -> None: ...

class SectionDone(_message.Message):
    __slots__ = ("index", "name", "start_bar", "bars", "start_s", "key", "tempo_bpm", "time_signature", "midi", "tracks", "how", "cached", "cache_key", "cache_entry", "notices")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_BAR_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TEMPO_BPM_FIELD_NUMBER: _ClassVar[int]
    TIME_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    MIDI_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    HOW_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    CACHE_KEY_FIELD_NUMBER: _ClassVar[int]
    CACHE_ENTRY_FIELD_NUMBER: _ClassVar[int]
    NOTICES_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    start_bar: int
    bars: int
    start_s: float
    key: str
    tempo_bpm: float
    time_signature: str
    midi: bytes
    tracks: _containers.RepeatedCompositeFieldContainer[TrackNotes]
    how: str
    cached: bool
    cache_key: str
    cache_entry: bytes
    notices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., start_bar: _Optional[int] = ..., bars: _Optional[int] = ..., start_s: _Optional[float] = ..., key: _Optional[str] = ..., tempo_bpm: _Optional[float] = ..., time_signature: _Optional[str] = ..., midi: _Optional[bytes] = ..., tracks: _Optional[_Iterable[_Union[TrackNotes, _Mapping]]] = ..., how: _Optional[str] = ..., cached: _Optional[bool] = ..., cache_key: _Optional[str] = ..., cache_entry: _Optional[bytes] = ..., notices: _Optional[_Iterable[str]] = ...) -> None: ...

class PieceDone(_message.Message):
    __slots__ = ("midi", "overview_png", "summary_json", "duration_s", "bars", "seed")
    MIDI_FIELD_NUMBER: _ClassVar[int]
    OVERVIEW_PNG_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    midi: bytes
    overview_png: bytes
    summary_json: str
    duration_s: float
    bars: int
    seed: int
    def __init__(self, midi: _Optional[bytes] = ..., overview_png: _Optional[bytes] = ..., summary_json: _Optional[str] = ..., duration_s: _Optional[float] = ..., bars: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class ArrangeResponse(_message.Message):
    __slots__ = ("progress", "section", "piece", "format", "chunk", "notice")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SECTION_FIELD_NUMBER: _ClassVar[int]
    PIECE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.Progress
    section: SectionDone
    piece: PieceDone
    format: _common_pb2.AudioFormat
    chunk: _common_pb2.AudioChunk
    notice: _common_pb2.Notice
    def __init__(self, progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., section: _Optional[_Union[SectionDone, _Mapping]] = ..., piece: _Optional[_Union[PieceDone, _Mapping]] = ..., format: _Optional[_Union[_common_pb2.AudioFormat, _Mapping]] = ..., chunk: _Optional[_Union[_common_pb2.AudioChunk, _Mapping]] = ..., notice: _Optional[_Union[_common_pb2.Notice, _Mapping]] = ...) -> None: ...

class ArrangementProblem(_message.Message):
    __slots__ = ("line", "field", "message")
    LINE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    line: int
    field: str
    message: str
    def __init__(self, line: _Optional[int] = ..., field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ValidateArrangementRequest(_message.Message):
    __slots__ = ("arrangement_toml", "source_name", "files")
    class FilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    ARRANGEMENT_TOML_FIELD_NUMBER: _ClassVar[int]
    SOURCE_NAME_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    arrangement_toml: str
    source_name: str
    files: _containers.ScalarMap[str, bytes]
    def __init__(self, arrangement_toml: _Optional[str] = ..., source_name: _Optional[str] = ..., files: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class ValidateArrangementResponse(_message.Message):
    __slots__ = ("valid", "problems", "bars", "sections")
    VALID_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    problems: _containers.RepeatedCompositeFieldContainer[ArrangementProblem]
    bars: int
    sections: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, valid: _Optional[bool] = ..., problems: _Optional[_Iterable[_Union[ArrangementProblem, _Mapping]]] = ..., bars: _Optional[int] = ..., sections: _Optional[_Iterable[str]] = ...) -> None: ...

class TranscribeRequest(_message.Message):
    __slots__ = ("audio", "tempo_bpm", "steps_per_quarter", "polyphonic", "unquantised", "program", "time_signature_numerator", "time_signature_denominator")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    TEMPO_BPM_FIELD_NUMBER: _ClassVar[int]
    STEPS_PER_QUARTER_FIELD_NUMBER: _ClassVar[int]
    POLYPHONIC_FIELD_NUMBER: _ClassVar[int]
    UNQUANTISED_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    TIME_SIGNATURE_NUMERATOR_FIELD_NUMBER: _ClassVar[int]
    TIME_SIGNATURE_DENOMINATOR_FIELD_NUMBER: _ClassVar[int]
    audio: bytes
    tempo_bpm: float
    steps_per_quarter: int
    polyphonic: bool
    unquantised: bool
    program: int
    time_signature_numerator: int
    time_signature_denominator: int
    def __init__(self, audio: _Optional[bytes] = ..., tempo_bpm: _Optional[float] = ..., steps_per_quarter: _Optional[int] = ..., polyphonic: _Optional[bool] = ..., unquantised: _Optional[bool] = ..., program: _Optional[int] = ..., time_signature_numerator: _Optional[int] = ..., time_signature_denominator: _Optional[int] = ...) -> None: ...

class TranscribeResponse(_message.Message):
    __slots__ = ("midi", "notes", "duration_s")
    MIDI_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    midi: bytes
    notes: int
    duration_s: float
    def __init__(self, midi: _Optional[bytes] = ..., notes: _Optional[int] = ..., duration_s: _Optional[float] = ...) -> None: ...
