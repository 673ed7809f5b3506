"""Bridge servicer: DAW sessions over gRPC.

Converts protobuf <-> daw_bridge's domain types here and nowhere else. daw_bridge.session does the
work (transport, launch quantisation, fan-out to followers); this module gives it the code that makes
clips (`make_clip`), which calls the same domain functions as the Composer and Renderer services.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import replace
from typing import Callable, Iterator

import grpc

from audio_render.audio_io import encode_wav
from audio_render.render import RenderOptions, render_midi
from audio_render.soundfonts import resolve_soundfont
from daw_bridge.events import (
    ClipReady,
    MidiOut,
    MixChanged,
    Notice,
    Opened,
    ProgressUpdate,
    SessionEvent,
    TransportChanged,
    Watcher,
)
from daw_bridge.session import ClipRequest, Launch, MadeClip, SessionLimits, SessionRegistry
from daw_bridge.session import Session as DawSession  # the servicer has a method named Session
from daw_bridge.midi import clip_from_midi
from daw_bridge.timeline import TimeSignature
from ostinato.errors import InvalidInput, NotImplementedYet, OstinatoError
from ostinato.limits import MidiLimits, check_range
from ostinato.midi_scan import scan_midi
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn
from protos.ostinato.v1 import bridge_pb2, bridge_pb2_grpc, common_pb2, composer_pb2
from server.rpc import check_size, handle_errors, short_message
from server.application import composing, session_extras
from server.application import latent as latent_work
from server.application.models import MODELS
from server.convert import composer as convert
from server.settings import Settings

SERVICE_NAME = bridge_pb2.DESCRIPTOR.services_by_name["Bridge"].full_name
log = logging.getLogger("ostinato.bridge")

_TRANSPORT_TO_PROTO = {
    "start": bridge_pb2.TRANSPORT_COMMAND_START,
    "stop": bridge_pb2.TRANSPORT_COMMAND_STOP,
    "continue": bridge_pb2.TRANSPORT_COMMAND_CONTINUE,
}
# How long a follower's stream waits for an event before checking that its client is still there.
_POLL_S = 0.5
# Notes in one clip launched into a session (each becomes two events for every follower).
MAX_CLIP_NOTES = 5_000
# Beats a play or position message may name (about 8 hours at 200 bpm).
MAX_BEAT = 100_000.0
# A follower's declared output latency, seconds.
MAX_OUTPUT_LATENCY_S = 5.0


# -- domain -> protobuf -------------------------------------------------------------------------------
def event_to_proto(event: SessionEvent) -> bridge_pb2.SessionEvent:
    message = bridge_pb2.SessionEvent(sequence=event.sequence, request_id=event.request_id)
    payload = event.payload
    if isinstance(payload, MidiOut):
        message.midi.CopyFrom(
            bridge_pb2.MidiMessage(data=payload.data, time_s=payload.time_s, beat=payload.beat, track=payload.track)
        )
    elif isinstance(payload, ClipReady):
        message.clip.CopyFrom(
            bridge_pb2.ClipReady(
                request_id=event.request_id, midi=payload.midi, wav=payload.wav, launch_beat=payload.launch_beat
            )
        )
    elif isinstance(payload, ProgressUpdate):
        message.progress.CopyFrom(
            common_pb2.Progress(
                stage=payload.progress.stage,
                fraction=max(0.0, min(1.0, payload.progress.fraction)),
                message=payload.progress.message,
                elapsed_s=payload.elapsed_s,
            )
        )
    elif isinstance(payload, TransportChanged):
        message.transport = _TRANSPORT_TO_PROTO[payload.command]
    elif isinstance(payload, Notice):
        message.notice.CopyFrom(common_pb2.Notice(code=payload.code, message=payload.message))
    elif isinstance(payload, MixChanged):
        mix = bridge_pb2.MixCommand(output_port=payload.output_port)
        if payload.mute is not None:
            mix.mute = payload.mute
        if payload.solo is not None:
            mix.solo = payload.solo
        message.mix.CopyFrom(mix)
    elif isinstance(payload, Opened):
        message.opened.CopyFrom(
            bridge_pb2.SessionOpened(session_id=payload.session_id, output_latency_s=payload.output_latency_s)
        )
    return message


def _time_signature(proto: composer_pb2.TimeSignature) -> TimeSignature:
    if not proto.numerator and not proto.denominator:
        return TimeSignature()
    return TimeSignature(proto.numerator, proto.denominator or 4)


# -- making clips -------------------------------------------------------------------------------------
# A capability a session can ask for beyond the Composer's (Drumify, Accompany): takes the clip to work
# on (MIDI bytes: the request's own, or the session's captured playing), the request message, the
# session's tempo and meter, progress and cancel; returns the new clip's MIDI bytes, or a MadeClip
# (audio only, no MIDI, for work whose result MIDI ports cannot carry).
ExtraMaker = Callable[[bytes, object, ClipRequest, ProgressFn, CancelToken], "bytes | MadeClip"]


class ClipFactory:
    """Turns a SessionGenerate into MIDI (and WAV) bytes with the server's domain code.

    Drumify and accompany are hooks: `register("drumify" | "accompany", maker)` plugs in what provides
    them (the Bridge servicer registers server.application.session_extras); a factory without one
    answers a session asking for it with a notice saying the server cannot do it, and keeps playing.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._extra: dict[str, ExtraMaker] = {}

    def register(self, kind: str, maker: ExtraMaker) -> None:
        if kind not in ("drumify", "accompany"):
            raise ValueError(f"no session work kind {kind!r} to register")
        self._extra[kind] = maker

    def __call__(self, request: ClipRequest, progress: ProgressFn, cancel: CancelToken) -> MadeClip:
        work = request.work
        assert isinstance(work, bridge_pb2.SessionGenerate)
        kind = work.WhichOneof("work")
        if kind == "render":
            check_size("render.midi", work.render.midi, self._settings.limits.max_midi_bytes)
            # every note is released to every follower: a 100k-note clip would overflow their queues
            scan_midi(work.render.midi, MidiLimits(max_notes=MAX_CLIP_NOTES))
            midi_bytes = work.render.midi
            progress(ProgressEvent("clip", 1.0, "clip received"))
        elif kind in ("generate", "continue_clip", "vary", "infill"):
            midi_bytes = self._compose(kind, work, request, progress, cancel)
        elif kind in ("drumify", "accompany"):
            made = self._extra_work(kind, getattr(work, kind), request, progress, cancel)
            if isinstance(made, MadeClip):
                return made
            midi_bytes = made
        else:
            raise InvalidInput(
                "a generate request needs one of generate, continue_clip, vary, infill, drumify, accompany or render"
            )
        wav = self._render(work, midi_bytes, progress, cancel) if work.render_audio else b""
        return MadeClip(midi_bytes, wav)

    def _compose(
        self,
        kind: str,
        work: bridge_pb2.SessionGenerate,
        request: ClipRequest,
        progress: ProgressFn,
        cancel: CancelToken,
    ) -> bytes:
        inner = getattr(work, kind)
        # A continuation, variation or infill without a clip of its own uses what the user played into
        # the session; a continuation of it is only the new bars (the user has already played the rest).
        from_capture = False
        for field in ("primer_midi", "midi"):
            if field in inner.DESCRIPTOR.fields_by_name and not getattr(inner, field):
                if request.primer_midi is None:
                    raise InvalidInput(
                        f"{kind} needs a clip: send {field}, or play something into the session first"
                    )
                inner = type(inner)()
                inner.CopyFrom(getattr(work, kind))
                setattr(inner, field, request.primer_midi)
                from_capture = True
        limits = self._settings.limits
        for field in ("primer_midi", "midi"):
            if field in inner.DESCRIPTOR.fields_by_name:
                check_size(f"{kind}.{field}", getattr(inner, field), limits.max_midi_bytes)
        # The same application calls, with the same conversions, as the Composer service.
        settings = self._settings
        if kind == "vary":
            return self._vary(inner, progress, cancel)
        if kind == "generate":
            job = convert.generate_job(inner)
            attributes = composing.requested_attributes(job, settings)
            # The session's meter and tempo stand in for what neither the request nor its text gives.
            if attributes.time_signature is None:
                attributes.time_signature = (request.time_signature.numerator, request.time_signature.denominator)
            if attributes.tempo_bpm is None:
                attributes.tempo_bpm = request.tempo_bpm
            return composing.generate(replace(job, attributes=attributes, text=""), settings, progress, cancel).midi
        if kind == "continue_clip":
            job = convert.continue_job(inner)
            job.continuation_only = job.continuation_only or from_capture
            return composing.continue_clip(job, settings, progress, cancel).midi
        return composing.infill(convert.infill_job(inner), settings, progress, cancel).midi

    def _extra_work(self, kind: str, inner, request: ClipRequest, progress: ProgressFn, cancel: CancelToken) -> "bytes | MadeClip":  # type: ignore[no-untyped-def]
        maker = self._extra.get(kind)
        if maker is None:
            raise NotImplementedYet(f"{kind} is not available on this server yet: the session keeps playing")
        clip = inner.midi or request.primer_midi
        if not clip:
            raise InvalidInput(f"{kind} needs a clip: send midi, or play something into the session first")
        check_size(f"{kind}.midi", clip, self._settings.limits.max_midi_bytes)
        return maker(clip, inner, request, progress, cancel)

    def _vary(self, request: composer_pb2.VaryRequest, progress: ProgressFn, cancel: CancelToken) -> bytes:
        """One variation (a session launches one clip per request) through the latent space."""
        from symbolic.latent.representation import clip_to_midi, midi_to_clip  # torch: on first use

        limits = self._settings.limits
        latent_work.check_vary(1, request.similarity_distance, limits)
        sampling = request.sampling
        decoding = latent_work.decoding(sampling.seed, sampling.temperature, sampling.top_k)
        shifts = latent_work.total_shifts((shift.attribute, shift.amount) for shift in request.shifts)
        clips = MODELS.latent_space(self._settings).vary(
            midi_to_clip(request.midi), 1, float(request.similarity_distance), shifts, decoding,
            max_variations=limits.max_variations, progress=progress, cancel=cancel,
        )
        return clip_to_midi(clips[0])

    def _render(self, work: bridge_pb2.SessionGenerate, midi_bytes: bytes, progress: ProgressFn, cancel: CancelToken) -> bytes:
        settings = self._settings
        render = work.render if work.WhichOneof("work") == "render" else None
        soundfont = resolve_soundfont(
            render.soundfont if render is not None else "",
            settings.soundfont_dirs,
            settings.default_soundfont,
            restrict=True,
        )
        sample_rate_hz = render.sample_rate_hz if render is not None and render.sample_rate_hz else 44_100
        channels = render.channels if render is not None and render.channels else 2
        # The WAV travels in one message with the MIDI: refuse up front what could not be sent.
        sendable_s = (settings.max_message_bytes - 2 * len(midi_bytes) - 65_536) / (sample_rate_hz * max(1, channels) * 2)
        options = RenderOptions(
            soundfont=soundfont,
            sample_rate_hz=sample_rate_hz,
            channels=channels,
            max_duration_s=max(0.0, min(settings.limits.max_render_s, sendable_s)),
            soundfont_dirs=settings.soundfont_dirs,
        )
        audio = render_midi(midi_bytes, options, progress=progress, cancel=cancel)
        return encode_wav(audio.samples, audio.sample_rate_hz)


# -- the servicer ---------------------------------------------------------------------------------------
class BridgeServicer(bridge_pb2_grpc.BridgeServicer):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.clip_factory = ClipFactory(settings)
        self.clip_factory.register("drumify", _drumify)
        self.clip_factory.register("accompany", self._accompany)
        self.registry = SessionRegistry(
            clip_maker=self.clip_factory,
            max_sessions=settings.limits.max_sessions,
            limits=SessionLimits(max_watchers=settings.limits.max_watchers_per_session,
                                 max_pending_requests=settings.limits.max_pending_requests_per_session),
            idle_close_s=settings.limits.session_idle_close_s,
        )
        self._reaper = threading.Thread(target=self._reap_forever, name="ostinato-session-reaper", daemon=True)
        self._reaper.start()

    def _accompany(self, clip: bytes, inner: bridge_pb2.AccompanyClip, request: ClipRequest, progress: ProgressFn,
                   cancel: CancelToken) -> MadeClip:
        """Audio for the session's clip, written where the user can find it: the paths go out as a
        session notice ("accompaniment"), the part's WAV in ClipReady.wav; nothing plays on the ports."""
        session = self.registry.get(request.session_id)
        result = session_extras.accompany_clip(
            clip, inner.text, int(inner.sampling.seed), self._settings, session_extras.session_folder(session.session_id),
            request.request_id, progress, cancel)
        session.notice("accompaniment", f"{result.part} for {result.duration_s:.1f} s written to {result.part_path} "
                                        f"(with your clip: {result.mix_path})", request.request_id)
        return MadeClip(b"", result.wav)

    def _reap_forever(self) -> None:
        while True:
            time.sleep(1.0)
            closed = self.registry.reap()
            if closed:
                log.info("closed idle bridge sessions: %s", ", ".join(closed))

    @handle_errors
    def Session(self, request_iterator, context: grpc.ServicerContext) -> Iterator[bridge_pb2.SessionResponse]:  # type: ignore[no-untyped-def]
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("action") != "open":
            raise InvalidInput("the first message of a Bridge.Session stream must be `open`")
        session = self.registry.open(
            first.open.session_id,
            first.open.tempo_bpm or 120.0,
            _time_signature(first.open.time_signature),
            check_range("output_latency_s", first.open.output_latency_s, 0.0, MAX_OUTPUT_LATENCY_S, "s"),
        )
        watcher = session.watch()
        context.add_callback(watcher.close)
        reader = threading.Thread(
            target=self._read_requests,
            args=(request_iterator, session, watcher),
            name=f"ostinato-session-reader-{session.session_id}",
            daemon=True,
        )
        reader.start()
        try:
            for event in self._follow(session, watcher, context):
                yield bridge_pb2.SessionResponse(event=event)
        finally:
            session.unwatch(watcher)

    @handle_errors
    def WatchSession(self, request: bridge_pb2.WatchSessionRequest, context: grpc.ServicerContext) -> Iterator[bridge_pb2.WatchSessionResponse]:  # type: ignore[override]
        if not request.session_id:
            raise InvalidInput("session_id is required: name the session to watch")
        session = self.registry.get(request.session_id)
        watcher = session.watch()
        context.add_callback(watcher.close)
        try:
            for event in self._follow(session, watcher, context):
                yield bridge_pb2.WatchSessionResponse(event=event)
        finally:
            session.unwatch(watcher)

    @handle_errors
    def PushClip(self, request: bridge_pb2.PushClipRequest, context: grpc.ServicerContext) -> bridge_pb2.PushClipResponse:  # type: ignore[override]
        if not request.session_id:
            raise InvalidInput("session_id is required: name the running session to push the clip into")
        check_size("midi", request.midi, self._settings.limits.max_midi_bytes)
        scan_midi(request.midi, MidiLimits(max_notes=MAX_CLIP_NOTES))  # the same cap as a rendered clip
        session = self.registry.get(request.session_id)
        lane = request.lane if request.HasField("lane") else None
        launch = Launch(lane, request.loop, request.launch_bars or 1, request.launch_immediately)
        clip = clip_from_midi(request.midi, session.time_signature.beats_per_bar)  # refuse a bad file here
        request_id = session.new_request_id(request.request_id or "push")
        beat = session.launch(MadeClip(request.midi), request_id, launch=launch)
        return bridge_pb2.PushClipResponse(request_id=request_id, launch_beat=beat, length_beats=clip.length_beats)

    @handle_errors
    def ExportSession(self, request: bridge_pb2.ExportSessionRequest, context: grpc.ServicerContext) -> bridge_pb2.ExportSessionResponse:  # type: ignore[override]
        if not request.session_id:
            raise InvalidInput("session_id is required: name the session to export")
        captured, played = self.registry.get(request.session_id).export()
        return bridge_pb2.ExportSessionResponse(captured_midi=captured, played_midi=played)

    def _follow(self, session: DawSession, watcher: Watcher, context: grpc.ServicerContext) -> Iterator[bridge_pb2.SessionEvent]:
        while True:
            event = watcher.next(_POLL_S)
            if event is None:
                if watcher.failure is not None:
                    raise watcher.failure
                if watcher.closed or not context.is_active():
                    return
                continue
            yield event_to_proto(event)

    def _read_requests(self, request_iterator, session: DawSession, watcher: Watcher) -> None:  # type: ignore[no-untyped-def]
        try:
            for request in request_iterator:
                try:
                    self._handle(request, session)
                except OstinatoError as error:
                    # Only the sender made the mistake: tell it alone (sequence 0: outside the session's numbering).
                    watcher.deliver(SessionEvent(0, Notice("invalid_request", short_message(str(error)))))
                except Exception:  # noqa: BLE001 - one bad message must not end the session
                    error_id = uuid.uuid4().hex[:12]
                    log.exception("session %s: request failed (error id %s)", session.session_id, error_id)
                    watcher.deliver(SessionEvent(0, Notice("error", f"internal error {error_id} handling the request")))
        except grpc.RpcError:
            pass  # the client went away; _follow notices through the context
        except Exception:  # noqa: BLE001 - a reader crash must not leave the follower hanging silently
            log.exception("session %s: request reader failed", session.session_id)
            watcher.close()

    def _handle(self, request: bridge_pb2.SessionRequest, session: DawSession) -> None:
        action = request.WhichOneof("action")
        if action == "generate":
            work = request.generate
            if work.WhichOneof("work") is None:
                raise InvalidInput("generate needs one of generate, continue_clip, vary, infill or render")
            lane = work.lane if work.HasField("lane") else None
            launch = Launch(lane, work.loop, work.launch_bars or 1, work.launch_immediately)
            session.generate(work, work.request_id, launch=launch)
        elif action == "transport":
            if request.transport == bridge_pb2.TRANSPORT_COMMAND_START:
                session.start()
            elif request.transport == bridge_pb2.TRANSPORT_COMMAND_STOP:
                session.stop()
            elif request.transport == bridge_pb2.TRANSPORT_COMMAND_CONTINUE:
                session.resume()
            else:
                raise InvalidInput("transport needs START, STOP or CONTINUE")
        elif action == "play":
            if not request.play.data:
                raise InvalidInput("play needs MIDI bytes in data")
            if len(request.play.data) > 3:
                raise InvalidInput(f"play carries one MIDI message (1-3 bytes), got {len(request.play.data)} bytes")
            check_range("play.beat", request.play.beat, 0.0, MAX_BEAT)
            check_range("play.time_s", request.play.time_s, 0.0, MAX_BEAT)
            timed = request.play.beat > 0 or request.play.time_s > 0
            session.play(bytes(request.play.data), request.play.beat if timed else None)
        elif action == "position":
            position = request.position
            check_range("position.beat", position.beat, -MAX_BEAT, MAX_BEAT)
            session.locate(position.beat, position.playing, position.tempo_bpm or session.transport.state.tempo_bpm)
        elif action == "stop_lane":
            session.stop_lane(request.stop_lane.lane, request.stop_lane.immediately)
        elif action == "mix":
            mix = request.mix
            session.mix(mix.output_port, mix.mute if mix.HasField("mute") else None,
                        mix.solo if mix.HasField("solo") else None)
        elif action == "open":
            raise InvalidInput("this stream already has a session open; start another stream to open another")
        else:
            raise InvalidInput("empty request: set one of open, generate, transport, play or position")


def _drumify(clip: bytes, inner: bridge_pb2.DrumifyClip, request: ClipRequest, progress: ProgressFn,
             cancel: CancelToken) -> bytes:
    """Drums alone (GM channel 10) for the session's clip, launched like any clip: on the next bar."""
    return session_extras.session_drums(clip, int(inner.sampling.seed), progress, cancel)


def add_to_server(server: grpc.Server, settings: Settings) -> str:
    bridge_pb2_grpc.add_BridgeServicer_to_server(BridgeServicer(settings), server)
    return SERVICE_NAME
