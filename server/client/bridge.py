"""Bridge calls of the Python client: open (or join) a DAW session and follow its events.

    with client.open_bridge_session(tempo_bpm=120) as session:
        session.transport("start")
        session.generate(render_midi=clip_bytes)             # or generate=GenerateRequest(...)
        for event in session.events():
            if event.WhichOneof("event") == "midi": ...
"""

from __future__ import annotations

import queue
import threading
import uuid
from typing import Any, Iterator

import grpc

from protos.ostinato.v1 import bridge_pb2, bridge_pb2_grpc, composer_pb2, renderer_pb2
from server.client.base import ClientBase, ServerError, _translated

_TRANSPORT = {
    "start": bridge_pb2.TRANSPORT_COMMAND_START,
    "stop": bridge_pb2.TRANSPORT_COMMAND_STOP,
    "continue": bridge_pb2.TRANSPORT_COMMAND_CONTINUE,
}
_END = object()


class BridgeSession:
    """One open Bridge.Session stream. Requests are sent from any thread; events are read with
    `events()` (one reader). Closing ends the stream; the session itself lives on for its other
    clients."""

    def __init__(self, stub: bridge_pb2_grpc.BridgeStub, call_kwargs: dict[str, Any], open_request: bridge_pb2.OpenSession) -> None:
        self._requests: queue.Queue[object] = queue.Queue()
        self._requests.put(bridge_pb2.SessionRequest(open=open_request))
        self._call = stub.Session(self._request_iterator(), **call_kwargs)
        self._closed = threading.Event()
        self._ids = 0
        # Request ids unique across clients: two clients of one session both asking `c1` confused
        # every follower about whose clip was whose.
        self._id_prefix = uuid.uuid4().hex[:6]
        first = self._next_event()
        if first is None or first.WhichOneof("event") != "opened":
            self.close()
            raise ServerError(grpc.StatusCode.UNKNOWN, "the server did not open the session")
        self.session_id: str = first.opened.session_id
        self.output_latency_s: float = first.opened.output_latency_s
        self.opened_sequence: int = first.sequence

    def _request_iterator(self) -> Iterator[bridge_pb2.SessionRequest]:
        while True:
            item = self._requests.get()
            if item is _END:
                return
            yield item  # type: ignore[misc]

    def _next_event(self) -> bridge_pb2.SessionEvent | None:
        try:
            return next(self._call).event
        except StopIteration:
            return None
        except grpc.RpcError as error:
            if self._closed.is_set() and error.code() == grpc.StatusCode.CANCELLED:
                return None
            raise _translated(error) from None

    def events(self) -> Iterator[bridge_pb2.SessionEvent]:
        """The session's events after Opened, until the stream ends or `close()` is called."""
        while True:
            event = self._next_event()
            if event is None:
                return
            yield event

    # -- requests ------------------------------------------------------------------------------------
    def send(self, request: bridge_pb2.SessionRequest) -> None:
        if self._closed.is_set():
            raise ServerError(grpc.StatusCode.CANCELLED, "this session stream is closed")
        self._requests.put(request)

    def generate(
        self,
        *,
        generate: composer_pb2.GenerateRequest | None = None,
        continue_clip: composer_pb2.ContinueRequest | None = None,
        vary: composer_pb2.VaryRequest | None = None,
        infill: composer_pb2.InfillRequest | None = None,
        render: renderer_pb2.RenderMidiRequest | None = None,
        render_midi: bytes | None = None,
        drumify: bridge_pb2.DrumifyClip | None = None,
        accompany: bridge_pb2.AccompanyClip | None = None,
        request_id: str = "",
        launch_immediately: bool = False,
        render_audio: bool = False,
        lane: int | None = None,
        loop: bool = False,
        launch_bars: int = 0,
    ) -> str:
        """Asks for a clip; exactly one kind of work. `render_midi` launches your own clip as it is.
        Returns the request id that tags the events answering it."""
        if render_midi is not None:
            render = renderer_pb2.RenderMidiRequest(midi=render_midi)
        works = {"generate": generate, "continue_clip": continue_clip, "vary": vary, "infill": infill, "render": render,
                 "drumify": drumify, "accompany": accompany}
        given = {k: v for k, v in works.items() if v is not None}
        if len(given) != 1:
            raise ValueError("give exactly one of generate, continue_clip, vary, infill, drumify, accompany, render or render_midi")
        if not request_id:
            self._ids += 1
            request_id = f"{self._id_prefix}-{self._ids}"
        message = bridge_pb2.SessionGenerate(
            request_id=request_id, launch_immediately=launch_immediately, render_audio=render_audio,
            loop=loop, launch_bars=launch_bars, **given
        )
        if lane is not None:
            message.lane = lane  # in a lane: replaces the lane's clip; unset: plays alongside
        self.send(bridge_pb2.SessionRequest(generate=message))
        return request_id

    def transport(self, command: str) -> None:
        """"start", "stop" or "continue"."""
        self.send(bridge_pb2.SessionRequest(transport=_TRANSPORT[command]))

    def position(self, beat: float, tempo_bpm: float, playing: bool) -> None:
        """Reports where the DAW's transport is (a bridge following the DAW's clock does this)."""
        self.send(bridge_pb2.SessionRequest(position=bridge_pb2.TransportPosition(beat=beat, tempo_bpm=tempo_bpm, playing=playing)))

    def play(self, data: bytes, beat: float = 0.0, time_s: float = 0.0) -> None:
        """Sends a message the user played, for the session's capture (primers)."""
        self.send(bridge_pb2.SessionRequest(play=bridge_pb2.MidiMessage(data=data, beat=beat, time_s=time_s)))

    def stop_lane(self, lane: int, immediately: bool = False) -> None:
        """Stops the clip of one lane on the next bar (or at once)."""
        self.send(bridge_pb2.SessionRequest(stop_lane=bridge_pb2.LaneCommand(lane=lane, immediately=immediately)))

    def mix(self, output_port: int, mute: bool | None = None, solo: bool | None = None) -> None:
        """Mutes/solos an output port on every bridge following the session."""
        command = bridge_pb2.MixCommand(output_port=output_port)
        if mute is not None:
            command.mute = mute
        if solo is not None:
            command.solo = solo
        self.send(bridge_pb2.SessionRequest(mix=command))

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._requests.put(_END)
        self._call.cancel()

    def __enter__(self) -> "BridgeSession":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class BridgeCalls(ClientBase):
    def _session_kwargs(self, timeout_s: float | None) -> dict[str, Any]:
        # A session lasts as long as the user plays: no default deadline unless one is asked for.
        return {"metadata": self._metadata, "timeout": timeout_s}

    def open_bridge_session(
        self,
        session_id: str = "",
        *,
        tempo_bpm: float = 120.0,
        time_signature: tuple[int, int] = (4, 4),
        output_latency_s: float = 0.0,
        timeout_s: float | None = None,
    ) -> BridgeSession:
        """Opens a new session (or joins `session_id`, creating it under that name if needed)."""
        request = bridge_pb2.OpenSession(
            session_id=session_id,
            tempo_bpm=tempo_bpm,
            time_signature=composer_pb2.TimeSignature(numerator=time_signature[0], denominator=time_signature[1]),
            output_latency_s=output_latency_s,
        )
        try:
            return BridgeSession(self._stub(bridge_pb2_grpc.BridgeStub), self._session_kwargs(timeout_s), request)
        except grpc.RpcError as error:
            raise _translated(error) from None

    def push_clip(
        self,
        session_id: str,
        midi: bytes,
        *,
        lane: int | None = 0,
        loop: bool = False,
        launch_bars: int = 0,
        launch_immediately: bool = False,
        request_id: str = "",
        timeout_s: float | None = 30.0,
    ) -> bridge_pb2.PushClipResponse:
        """Puts a clip into a running session; returns its request id and launch beat."""
        request = bridge_pb2.PushClipRequest(
            session_id=session_id, midi=midi, loop=loop, launch_bars=launch_bars,
            launch_immediately=launch_immediately, request_id=request_id,
        )
        if lane is not None:
            request.lane = lane
        try:
            return self._stub(bridge_pb2_grpc.BridgeStub).PushClip(request, metadata=self._metadata, timeout=timeout_s)
        except grpc.RpcError as error:
            raise _translated(error) from None

    def export_session(self, session_id: str, timeout_s: float | None = 30.0) -> bridge_pb2.ExportSessionResponse:
        """A session's captured input and played output as MIDI files."""
        try:
            return self._stub(bridge_pb2_grpc.BridgeStub).ExportSession(
                bridge_pb2.ExportSessionRequest(session_id=session_id), metadata=self._metadata, timeout=timeout_s
            )
        except grpc.RpcError as error:
            raise _translated(error) from None

    def watch_bridge_session(self, session_id: str, timeout_s: float | None = None) -> Iterator[bridge_pb2.SessionEvent]:
        """Follows a session's events (Opened first); closing the iterator stops following."""
        stub = self._stub(bridge_pb2_grpc.BridgeStub)
        call = stub.WatchSession(bridge_pb2.WatchSessionRequest(session_id=session_id), **self._session_kwargs(timeout_s))
        try:
            for response in call:
                yield response.event
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                raise _translated(error) from None
        finally:
            call.cancel()
