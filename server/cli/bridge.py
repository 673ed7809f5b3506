"""`ostinato bridge`: run the DAW bridge here, against a server's Bridge session.

Opens virtual MIDI ports (or connects to loopback ports by name on Windows), follows the DAW's clock
or sends its own, joins or opens a session, and plays the session's clips into the DAW in time.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from daw_bridge.bridge import BridgeConfig, ClockMode, LocalBridge, PositionReport, default_api
from daw_bridge.ports import MidiApi, PortConfig
from daw_bridge.timeline import TimeSignature
from ostinato.errors import OstinatoError
from protos.ostinato.v1 import bridge_pb2, composer_pb2
from server.cli.common import add_connection_arguments, connect


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bridge",
        help="stream a session's clips into a DAW over virtual MIDI ports, in time with its clock",
        description="Run the DAW bridge: open MIDI ports the DAW records from and sends its clock to, join "
        "(or open) a session on the server, and play the session's clips in time with the DAW. Stop with "
        "Ctrl-C: every held note is released.",
    )
    parser.add_argument(
        "--api",
        choices=[api.value for api in MidiApi],
        default=default_api().value,
        help="MIDI API (default: jack on Linux, coremidi on macOS, windows-mm on Windows)",
    )
    parser.add_argument("--port-name", default="Ostinato", help="base name of the ports: '<name> out', '<name> in'")
    parser.add_argument("--client-name", default="Ostinato", help="MIDI client name shown by the DAW")
    parser.add_argument("--output-ports", type=int, default=1, metavar="N",
                        help="1: all tracks on one port on their own channels; N: one port per track")
    parser.add_argument("--connect-output", metavar="NAME",
                        help="connect to an existing output port instead of creating one (Windows: the loopMIDI port)")
    parser.add_argument("--connect-input", metavar="NAME", help="connect to an existing input port by name")
    parser.add_argument("--no-input", action="store_true", help="open no input port (no clock following, no capture)")
    parser.add_argument("--clock", choices=[m.value for m in ClockMode], default=ClockMode.FOLLOW.value,
                        help="follow the DAW's MIDI clock, or be the clock master")
    parser.add_argument("--tempo", type=float, default=120.0, metavar="BPM",
                        help="master tempo; the follower's guess until it hears the clock")
    parser.add_argument("--time-signature", default="4/4", metavar="N/D")
    parser.add_argument("--session", default="", metavar="ID", help="join (or create) the session with this id")
    group = parser.add_argument_group("ask for a clip at start (optional; other clients can ask too)")
    group.add_argument("--bars", type=int, help="generate a clip of this many bars")
    group.add_argument("--text", help="free-text description for the generated clip")
    group.add_argument("--midi", type=Path, help="launch this MIDI file as a clip")
    group.add_argument("--launch-immediately", action="store_true", help="launch on the next sixteenth, not the next bar")
    parser.add_argument("--run-for", type=float, metavar="SECONDS", help="leave after this long")
    parser.add_argument("--quiet", action="store_true", help="print only the session id and errors")
    add_connection_arguments(parser)
    parser.set_defaults(handler=run_bridge)


def _config(args: argparse.Namespace) -> BridgeConfig:
    numerator, _, denominator = args.time_signature.partition("/")
    return BridgeConfig(
        ports=PortConfig(
            api=MidiApi.parse(args.api),
            client_name=args.client_name,
            port_name=args.port_name,
            output_ports=args.output_ports,
            connect_output=args.connect_output,
            connect_input=args.connect_input,
            open_input=not args.no_input,
        ),
        clock_mode=ClockMode(args.clock),
        tempo_bpm=args.tempo,
        time_signature=TimeSignature(int(numerator), int(denominator or 4)),
    )


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    # The first SIGTERM stops cleanly (all notes off); a second one ends the process at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt


def run_bridge(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        if args.no_input and config.clock_mode is ClockMode.FOLLOW:
            raise ValueError("--no-input leaves no clock to follow: add --clock master")
    except (OstinatoError, ValueError) as error:
        print(f"ostinato bridge: {error}", file=sys.stderr)
        return 2
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
        # The player, the MIDI callback and gRPC share the GIL: hand it over every 0.5 ms rather than
        # every 5 ms, so a note due now does not wait for another thread's time slice.
        sys.setswitchinterval(0.0005)
    say = (lambda *_: None) if args.quiet else (lambda *parts: print(*parts, flush=True))
    with connect(args) as client:
        session_box: list = []

        def on_position(report: PositionReport) -> None:
            if session_box:
                session_box[0].position(report.beat, report.tempo_bpm, report.playing)

        def on_play(data: bytes, beat: float) -> None:
            if session_box:
                session_box[0].play(data, beat=beat)

        try:
            bridge = LocalBridge(config, on_position=on_position, on_play=on_play)
        except OstinatoError as error:
            print(f"ostinato bridge: {error}", file=sys.stderr)
            return 1
        try:
            session = client.open_bridge_session(
                args.session,
                tempo_bpm=args.tempo,
                time_signature=(config.time_signature.numerator, config.time_signature.denominator),
                output_latency_s=bridge.output_latency_s,
            )
            session_box.append(session)
            print(f"session {session.session_id}", flush=True)
            ports = bridge.ports
            say(f"ports: out={', '.join(ports.output_names) if ports else '-'} in={ports.input_name if ports else '-'}")
            if config.compensate_latency and bridge.transit_latency_s:
                say(f"MIDI transit {bridge.transit_latency_s * 1000:.2f} ms: measured, and compensated "
                    "(clock ticks dated earlier, notes sent earlier)")
            say(f"output latency: {bridge.output_latency_s * 1000:.2f} ms (set it as your DAW's track delay)")
            on_position(bridge.position())
            if config.clock_mode is ClockMode.MASTER:
                bridge.start()
            _ask_for_clip(args, session, config)
            if args.run_for:
                threading.Timer(args.run_for, session.close).start()
            for event in session.events():
                _apply(event, bridge, config, say)
        except KeyboardInterrupt:
            say("stopping: all notes off")
        finally:
            bridge.close()
            if session_box:
                session_box[0].close()
    return 0


def _ask_for_clip(args: argparse.Namespace, session, config: BridgeConfig) -> None:  # type: ignore[no-untyped-def]
    if args.midi:
        session.generate(render_midi=args.midi.read_bytes(), launch_immediately=args.launch_immediately)
    elif args.bars or args.text:
        attributes = composer_pb2.Attributes(
            time_signature=composer_pb2.TimeSignature(
                numerator=config.time_signature.numerator, denominator=config.time_signature.denominator
            ),
            tempo_bpm=config.tempo_bpm,
        )
        if args.bars:
            attributes.bars = args.bars
        session.generate(
            generate=composer_pb2.GenerateRequest(attributes=attributes, text=args.text or ""),
            launch_immediately=args.launch_immediately,
        )


def _apply(event, bridge: LocalBridge, config: BridgeConfig, say) -> None:  # type: ignore[no-untyped-def]
    kind = event.WhichOneof("event")
    if kind == "midi":
        bridge.play(bytes(event.midi.data), event.midi.beat, event.midi.track)
    elif kind == "clip":
        say(f"clip {event.request_id or event.clip.request_id}: launches at beat {event.clip.launch_beat:g}")
    elif kind == "transport":
        # The DAW's transport is the truth when following; as master, other clients may drive ours.
        if config.clock_mode is ClockMode.MASTER:
            playing = bridge.transport_state().playing
            if event.transport == bridge_pb2.TRANSPORT_COMMAND_START and not playing:
                bridge.start()
            elif event.transport == bridge_pb2.TRANSPORT_COMMAND_STOP and playing:
                bridge.stop()
            elif event.transport == bridge_pb2.TRANSPORT_COMMAND_CONTINUE and not playing:
                bridge.resume()
    elif kind == "notice":
        say(f"{event.notice.code}: {event.notice.message}")
    elif kind == "progress":
        say(f"{event.request_id} {event.progress.stage} {event.progress.fraction * 100:.0f}% {event.progress.message}")
