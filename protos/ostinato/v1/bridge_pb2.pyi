from protos.ostinato.v1 import common_pb2 as _common_pb2
from protos.ostinato.v1 import composer_pb2 as _composer_pb2
from protos.ostinato.v1 import renderer_pb2 as _renderer_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransportCommand(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSPORT_COMMAND_UNSPECIFIED: _ClassVar[TransportCommand]
    TRANSPORT_COMMAND_START: _ClassVar[TransportCommand]
    TRANSPORT_COMMAND_STOP: _ClassVar[TransportCommand]
    TRANSPORT_COMMAND_CONTINUE: _ClassVar[TransportCommand]
TRANSPORT_COMMAND_UNSPECIFIED: TransportCommand
TRANSPORT_COMMAND_START: TransportCommand
TRANSPORT_COMMAND_STOP: TransportCommand
TRANSPORT_COMMAND_CONTINUE: TransportCommand

class OpenSession(_message.Message):
    __slots__ = ("session_id", "tempo_bpm", "time_signature", "output_latency_s")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPO_BPM_FIELD_NUMBER: _ClassVar[int]
    TIME_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    tempo_bpm: float
    time_signature: _composer_pb2.TimeSignature
    output_latency_s: float
    def __init__(self, session_id: _Optional[str] = ..., tempo_bpm: _Optional[float] = ..., time_signature: _Optional[_Union[_composer_pb2.TimeSignature, _Mapping]] = ..., output_latency_s: _Optional[float] = ...) -> None: ...

class SessionGenerate(_message.Message):
    __slots__ = ("request_id", "generate", "continue_clip", "vary", "infill", "render", "drumify", "accompany", "launch_immediately", "render_audio", "lane", "loop", "launch_bars")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATE_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_CLIP_FIELD_NUMBER: _ClassVar[int]
    VARY_FIELD_NUMBER: _ClassVar[int]
    INFILL_FIELD_NUMBER: _ClassVar[int]
    RENDER_FIELD_NUMBER: _ClassVar[int]
    DRUMIFY_FIELD_NUMBER: _ClassVar[int]
    ACCOMPANY_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_IMMEDIATELY_FIELD_NUMBER: _ClassVar[int]
    RENDER_AUDIO_FIELD_NUMBER: _ClassVar[int]
    LANE_FIELD_NUMBER: _ClassVar[int]
    LOOP_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_BARS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    generate: _composer_pb2.GenerateRequest
    continue_clip: _composer_pb2.ContinueRequest
    vary: _composer_pb2.VaryRequest
    infill: _composer_pb2.InfillRequest
    render: _renderer_pb2.RenderMidiRequest
    drumify: DrumifyClip
    accompany: AccompanyClip
    launch_immediately: bool
    render_audio: bool
    lane: int
    loop: bool
    launch_bars: int
    def __init__(self, request_id: _Optional[str] = ..., generate: _Optional[_Union[_composer_pb2.GenerateRequest, _Mapping]] = ..., continue_clip: _Optional[_Union[_composer_pb2.ContinueRequest, _Mapping]] = ..., vary: _Optional[_Union[_composer_pb2.VaryRequest, _Mapping]] = ..., infill: _Optional[_Union[_composer_pb2.InfillRequest, _Mapping]] = ..., render: _Optional[_Union[_renderer_pb2.RenderMidiRequest, _Mapping]] = ..., drumify: _Optional[_Union[DrumifyClip, _Mapping]] = ..., accompany: _Optional[_Union[AccompanyClip, _Mapping]] = ..., launch_immediately: _Optional[bool] = ..., render_audio: _Optional[bool] = ..., lane: _Optional[int] = ..., loop: _Optional[bool] = ..., launch_bars: _Optional[int] = ...) -> None: ...

class DrumifyClip(_message.Message):
    __slots__ = ("midi", "sampling")
    MIDI_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    midi: bytes
    sampling: _composer_pb2.Sampling
    def __init__(self, midi: _Optional[bytes] = ..., sampling: _Optional[_Union[_composer_pb2.Sampling, _Mapping]] = ...) -> None: ...

class AccompanyClip(_message.Message):
    __slots__ = ("midi", "text", "sampling")
    MIDI_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    midi: bytes
    text: str
    sampling: _composer_pb2.Sampling
    def __init__(self, midi: _Optional[bytes] = ..., text: _Optional[str] = ..., sampling: _Optional[_Union[_composer_pb2.Sampling, _Mapping]] = ...) -> None: ...

class LaneCommand(_message.Message):
    __slots__ = ("lane", "immediately")
    LANE_FIELD_NUMBER: _ClassVar[int]
    IMMEDIATELY_FIELD_NUMBER: _ClassVar[int]
    lane: int
    immediately: bool
    def __init__(self, lane: _Optional[int] = ..., immediately: _Optional[bool] = ...) -> None: ...

class MixCommand(_message.Message):
    __slots__ = ("output_port", "mute", "solo")
    OUTPUT_PORT_FIELD_NUMBER: _ClassVar[int]
    MUTE_FIELD_NUMBER: _ClassVar[int]
    SOLO_FIELD_NUMBER: _ClassVar[int]
    output_port: int
    mute: bool
    solo: bool
    def __init__(self, output_port: _Optional[int] = ..., mute: _Optional[bool] = ..., solo: _Optional[bool] = ...) -> None: ...

class PushClipRequest(_message.Message):
    __slots__ = ("session_id", "midi", "lane", "loop", "launch_bars", "launch_immediately", "request_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MIDI_FIELD_NUMBER: _ClassVar[int]
    LANE_FIELD_NUMBER: _ClassVar[int]
    LOOP_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_BARS_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_IMMEDIATELY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    midi: bytes
    lane: int
    loop: bool
    launch_bars: int
    launch_immediately: bool
    request_id: str
    def __init__(self, session_id: _Optional[str] = ..., midi: _Optional[bytes] = ..., lane: _Optional[int] = ..., loop: _Optional[bool] = ..., launch_bars: _Optional[int] = ..., launch_immediately: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class PushClipResponse(_message.Message):
    __slots__ = ("request_id", "launch_beat", "length_beats")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_BEAT_FIELD_NUMBER: _ClassVar[int]
    LENGTH_BEATS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    launch_beat: float
    length_beats: float
    def __init__(self, request_id: _Optional[str] = ..., launch_beat: _Optional[float] = ..., length_beats: _Optional[float] = ...) -> None: ...

class ExportSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class ExportSessionResponse(_message.Message):
    __slots__ = ("captured_midi", "played_midi")
    CAPTURED_MIDI_FIELD_NUMBER: _ClassVar[int]
    PLAYED_MIDI_FIELD_NUMBER: _ClassVar[int]
    captured_midi: bytes
    played_midi: bytes
    def __init__(self, captured_midi: _Optional[bytes] = ..., played_midi: _Optional[bytes] = ...) -> None: ...

class SessionRequest(_message.Message):
    __slots__ = ("open", "generate", "transport", "play", "position", "stop_lane", "mix")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    GENERATE_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    PLAY_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    STOP_LANE_FIELD_NUMBER: _ClassVar[int]
    MIX_FIELD_NUMBER: _ClassVar[int]
    open: OpenSession
    generate: SessionGenerate
    transport: TransportCommand
    play: MidiMessage
    position: TransportPosition
    stop_lane: LaneCommand
    mix: MixCommand
    def __init__(self, open: _Optional[_Union[OpenSession, _Mapping]] = ..., generate: _Optional[_Union[SessionGenerate, _Mapping]] = ..., transport: _Optional[_Union[TransportCommand, str]] = ..., play: _Optional[_Union[MidiMessage, _Mapping]] = ..., position: _Optional[_Union[TransportPosition, _Mapping]] = ..., stop_lane: _Optional[_Union[LaneCommand, _Mapping]] = ..., mix: _Optional[_Union[MixCommand, _Mapping]] = ...) -> None: ...

class TransportPosition(_message.Message):
    __slots__ = ("beat", "tempo_bpm", "playing")
    BEAT_FIELD_NUMBER: _ClassVar[int]
    TEMPO_BPM_FIELD_NUMBER: _ClassVar[int]
    PLAYING_FIELD_NUMBER: _ClassVar[int]
    beat: float
    tempo_bpm: float
    playing: bool
    def __init__(self, beat: _Optional[float] = ..., tempo_bpm: _Optional[float] = ..., playing: _Optional[bool] = ...) -> None: ...

class MidiMessage(_message.Message):
    __slots__ = ("data", "time_s", "beat", "track")
    DATA_FIELD_NUMBER: _ClassVar[int]
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    BEAT_FIELD_NUMBER: _ClassVar[int]
    TRACK_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    time_s: float
    beat: float
    track: int
    def __init__(self, data: _Optional[bytes] = ..., time_s: _Optional[float] = ..., beat: _Optional[float] = ..., track: _Optional[int] = ...) -> None: ...

class ClipReady(_message.Message):
    __slots__ = ("request_id", "midi", "wav", "launch_beat")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MIDI_FIELD_NUMBER: _ClassVar[int]
    WAV_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_BEAT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    midi: bytes
    wav: bytes
    launch_beat: float
    def __init__(self, request_id: _Optional[str] = ..., midi: _Optional[bytes] = ..., wav: _Optional[bytes] = ..., launch_beat: _Optional[float] = ...) -> None: ...

class SessionOpened(_message.Message):
    __slots__ = ("session_id", "output_latency_s")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    output_latency_s: float
    def __init__(self, session_id: _Optional[str] = ..., output_latency_s: _Optional[float] = ...) -> None: ...

class SessionEvent(_message.Message):
    __slots__ = ("opened", "progress", "midi", "clip", "transport", "notice", "mix", "sequence", "request_id")
    OPENED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    MIDI_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    MIX_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    opened: SessionOpened
    progress: _common_pb2.Progress
    midi: MidiMessage
    clip: ClipReady
    transport: TransportCommand
    notice: _common_pb2.Notice
    mix: MixCommand
    sequence: int
    request_id: str
    def __init__(self, opened: _Optional[_Union[SessionOpened, _Mapping]] = ..., progress: _Optional[_Union[_common_pb2.Progress, _Mapping]] = ..., midi: _Optional[_Union[MidiMessage, _Mapping]] = ..., clip: _Optional[_Union[ClipReady, _Mapping]] = ..., transport: _Optional[_Union[TransportCommand, str]] = ..., notice: _Optional[_Union[_common_pb2.Notice, _Mapping]] = ..., mix: _Optional[_Union[MixCommand, _Mapping]] = ..., sequence: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class SessionResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: SessionEvent
    def __init__(self, event: _Optional[_Union[SessionEvent, _Mapping]] = ...) -> None: ...

class WatchSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class WatchSessionResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: SessionEvent
    def __init__(self, event: _Optional[_Union[SessionEvent, _Mapping]] = ...) -> None: ...
