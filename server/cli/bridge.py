"""`ostinato bridge`: run the DAW bridge here, against a server's Bridge session.

Opens virtual MIDI ports (or connects to loopback ports by name on Windows), follows the DAW's clock
or sends its own, joins or opens a session, and plays the session's clips into the DAW in time.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Callable

from ostinato.errors import OstinatoError
from server.cli.common import add_connection_arguments, connect

if TYPE_CHECKING:  # the bridge (rtmidi, mido, its threads) loads when the command runs, not for `--help`
    from daw_bridge.bridge import BridgeConfig, LocalBridge, PositionReport
    from daw_bridge.control import ControlAction, ControlMapping

# daw_bridge's MidiApi and ClockMode values, spelled here so that building the parser imports no MIDI
# library (tests/server/test_cli_and_serve.py checks that they agree).
API_NAMES = ("jack", "alsa", "coremidi", "windows-mm")
CLOCK_NAMES = ("follow", "master")


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
        choices=API_NAMES,
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
    parser.add_argument("--clock", choices=CLOCK_NAMES, default="follow",
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
    parser.add_argument("--mapping", type=Path, metavar="FILE",
                        help="control mapping (TOML or JSON): which notes, controllers and program changes on the "
                        "control channel ask for clips; default: the built-in mapping (docs/daw_bridge.md)")
    parser.add_argument("--no-control", action="store_true", help="no control channel: every message is captured")
    parser.add_argument("--list-ports", action="store_true",
                        help="open the bridge's ports, print their exact names and every other MIDI port, and exit")
    parser.add_argument("--native-log", type=Path, metavar="FILE",
                        help="where the MIDI system's own messages (libjack's) go instead of the terminal "
                        "(default: ostinato-bridge-native.log in the temporary directory)")
    parser.add_argument("--run-for", type=float, metavar="SECONDS", help="leave after this long")
    parser.add_argument("--quiet", action="store_true", help="print only the session id and errors")
    add_connection_arguments(parser)
    parser.set_defaults(handler=run_bridge)
    # `ostinato push` and `ostinato export-session` work on the sessions this command joins.
    from server.cli import push

    push.register(subparsers)


def _config(args: argparse.Namespace) -> BridgeConfig:
    from daw_bridge.bridge import BridgeConfig, ClockMode, default_api
    from daw_bridge.ports import MidiApi, PortConfig
    from daw_bridge.timeline import TimeSignature

    numerator, _, denominator = args.time_signature.partition("/")
    return BridgeConfig(
        ports=PortConfig(
            api=MidiApi.parse(args.api) if args.api else default_api(),
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


def _quiet_native_stderr(log_path: Path) -> Path:
    """Sends what C libraries write to the process's stderr (libjack's "JackPosixProcessSync" and
    socket chatter, rtmidi's warnings) to a file, and keeps Python's own messages on the terminal."""
    sys.stderr.flush()
    terminal = os.dup(2)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    native = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(native, 2)
    os.close(native)
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="replace")
    return log_path


class _Printer:
    """Prints status lines from any thread (the MIDI input thread must never wait on the terminal)."""

    def __init__(self, quiet: bool) -> None:
        self._quiet = quiet
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ostinato-status", daemon=True)
        self._thread.start()

    def __call__(self, *parts: object) -> None:
        if not self._quiet:
            self._lines.put(" ".join(str(p) for p in parts))

    def _run(self) -> None:
        while (line := self._lines.get()) is not None:
            print(line, flush=True)

    def close(self) -> None:
        self._lines.put(None)
        self._thread.join(1.0)


def _check_files(args: argparse.Namespace) -> tuple[bytes | None, ControlMapping | None]:
    """Reads --midi and --mapping before any port opens: a missing or bad file stops here."""
    from daw_bridge.control import DEFAULT_MAPPING, load_mapping
    from daw_bridge.midi import clip_from_midi

    clip = None
    if args.midi is not None:
        try:
            clip = args.midi.read_bytes()
        except OSError as error:
            raise ValueError(f"--midi {args.midi}: cannot read it ({error.strerror or error})") from error
        try:
            clip_from_midi(clip)
        except OstinatoError as error:
            raise ValueError(f"--midi {args.midi}: {error}") from error
    mapping = None
    if not args.no_control:
        mapping = load_mapping(args.mapping) if args.mapping is not None else DEFAULT_MAPPING
    return clip, mapping


def _list_ports(config: BridgeConfig) -> int:
    from daw_bridge.ports import PortSet, list_ports

    ports = PortSet(config.ports)
    try:
        print("the bridge's ports (connect to these exact names):")
        for name in ports.output_names:
            print(f"  out  {name}")
        if ports.input_name is not None:
            print(f"  in   {ports.input_name}")
        ours = set(ports.output_names) | {ports.input_name}
        sources, destinations = list_ports(config.ports.api)
        print(f"other MIDI ports on {config.ports.api.value}:")
        for name in sources:
            if name not in ours and "Ostinato lister" not in name:
                print(f"  source       {name}")
        for name in destinations:
            if name not in ours and "Ostinato lister" not in name:
                print(f"  destination  {name}")
    finally:
        ports.close()
    return 0


def run_bridge(args: argparse.Namespace) -> int:
    from daw_bridge.bridge import ClockMode

    try:
        config = _config(args)
        if args.no_input and config.clock_mode is ClockMode.FOLLOW and not args.list_ports:
            raise ValueError("--no-input leaves no clock to follow: add --clock master")
        clip_bytes, mapping = _check_files(args)
    except (OstinatoError, ValueError) as error:
        print(f"ostinato bridge: {error}", file=sys.stderr)
        return 2
    native_log = _quiet_native_stderr(
        args.native_log or Path(tempfile.gettempdir()) / "ostinato-bridge-native.log"
    )
    if args.list_ports:
        try:
            return _list_ports(config)
        except OstinatoError as error:
            print(f"ostinato bridge: {error}", file=sys.stderr)
            return 1
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
        # The player, the MIDI callback and gRPC share the GIL: hand it over every 0.5 ms rather than
        # every 5 ms, so a note due now does not wait for another thread's time slice.
        sys.setswitchinterval(0.0005)
    say = _Printer(args.quiet)
    try:
        return _run(args, config, clip_bytes, mapping, say, native_log)
    finally:
        say.close()


def _run(args: argparse.Namespace, config: BridgeConfig, clip_bytes: bytes | None, mapping: ControlMapping | None,
         say: _Printer, native_log: Path) -> int:
    from daw_bridge.bridge import ClockMode, LocalBridge
    from daw_bridge.control import ControlMapper

    with connect(args) as client:
        session_box: list = []
        mapper = ControlMapper(mapping) if mapping is not None else None
        bridge_box: list[LocalBridge] = []

        def on_position(report: PositionReport) -> None:
            if session_box:
                session_box[0].position(report.beat, report.tempo_bpm, report.playing)

        def on_play(data: bytes, beat: float) -> None:
            if session_box:
                session_box[0].play(data, beat=beat)

        def on_control(data: bytes, _at_s: float) -> bool:
            if mapper is None:
                return False
            result = mapper.handle(data)
            if result is None:
                return False
            if result.refused:
                say(f"control: {result.refused}")
            elif result.said:
                say(f"control: {result.said}")
            elif result.action is not None and session_box and bridge_box:
                try:
                    say(f"control: {_carry_out(result.action, session_box[0], bridge_box[0], config)}")
                except (OstinatoError, ValueError) as error:
                    say(f"control: refused: {error}")
            return True

        try:
            bridge = LocalBridge(config, on_position=on_position, on_play=on_play,
                                 on_status=lambda line: say(f"status: {line}"), on_control=on_control)
        except OstinatoError as error:
            print(f"ostinato bridge: {error}", file=sys.stderr)
            return 1
        bridge_box.append(bridge)
        stop_watch = threading.Event()
        reporters: list[threading.Thread] = []
        try:
            session = client.open_bridge_session(
                args.session,
                tempo_bpm=args.tempo,
                time_signature=(config.time_signature.numerator, config.time_signature.denominator),
            )
            session_box.append(session)
            print(f"session {session.session_id}", flush=True)
            ports = bridge.ports
            if ports is not None:
                for name in ports.output_names:
                    say(f"port out: {name}")
                if ports.input_name is not None:
                    say(f"port in: {ports.input_name}")
            say(f"(the MIDI system's own messages go to {native_log})")
            if config.compensate_latency and bridge.transit_latency_s:
                say(f"MIDI transit {bridge.transit_latency_s * 1000:.2f} ms: measured, and compensated "
                    "(clock ticks dated earlier, notes sent earlier)")
            say("output latency: not measured yet (reported once notes have played)")
            if mapper is not None:
                say(f"control channel {mapper.mapping.control_channel + 1}: {_describe(mapper.mapping)}")
            reporter = threading.Thread(target=_report_playback, args=(bridge, say, stop_watch), daemon=True)
            reporter.start()
            reporters.append(reporter)
            on_position(bridge.position())
            if config.clock_mode is ClockMode.MASTER:
                bridge.start()
            _ask_for_clip(args, session, config, clip_bytes)
            if args.run_for:
                threading.Timer(args.run_for, session.close).start()
            for event in session.events():
                _apply(event, bridge, config, say)
        except KeyboardInterrupt:
            say("stopping: all notes off")
        finally:
            stop_watch.set()
            bridge.close()
            for reporter in reporters:
                reporter.join(1.0)  # its last word (notes dropped late) before the printer closes
            if session_box:
                session_box[0].close()
    return 0


def _report_playback(bridge: LocalBridge, say: Callable[..., None], stop: threading.Event) -> None:
    """Says the output latency once it is measured, and every note the player had to drop because it
    was already too late to play in time (a machine too busy to keep up), so a silence has a reason."""
    latency_said = False
    dropped = 0
    while True:
        stopping = stop.wait(0.5)
        if not latency_said and bridge.output_latency_measured:
            say(f"output latency: {bridge.output_latency_s * 1000:.2f} ms, measured over "
                f"{len(bridge.player.records)} messages (set it as your DAW's track delay)")
            latency_said = True
        now_dropped = bridge.player.dropped_late
        if now_dropped > dropped:
            say(f"late: dropped {now_dropped - dropped} note(s) due over "
                f"{bridge.player.late_note_on_s * 1000:.0f} ms ago, with their note-offs "
                "(the machine was too busy to play them in time)")
            dropped = now_dropped
        if stopping:
            return


def _describe(mapping: ControlMapping) -> str:
    from daw_bridge.control import COMMANDS

    def note_name(number: int) -> str:
        return f"{('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')[number % 12]}{number // 12 - 1}"

    notes = ", ".join(f"{note_name(n)}={k}" for n, k in sorted(mapping.notes.items()) if k in COMMANDS)
    ccs = ", ".join(f"CC{n}={k}" for n, k in sorted(mapping.controllers.items()))
    return f"notes {notes or '-'}; {ccs or 'no controllers'} ({mapping.source})"


def _carry_out(action: ControlAction, session, bridge: LocalBridge, config: BridgeConfig) -> str:  # type: ignore[no-untyped-def]
    """Turns a control action into a session request; returns what was asked, for the status line."""
    from protos.ostinato.v1 import bridge_pb2, composer_pb2
    from symbolic.attributes import PITCH_CLASS_NAMES

    where = "next phrase" if action.launch_bars > 1 else "next bar"
    common = dict(lane=action.lane, loop=action.loop, launch_bars=action.launch_bars)
    if action.kind == "mix":
        session.mix(action.output_port, mute=action.mute, solo=action.solo)
        what = "mute" if action.mute is not None else "solo"
        state = action.mute if action.mute is not None else action.solo
        return f"{what} {'on' if state else 'off'} for output port {action.output_port + 1}"
    if action.kind == "stop":
        session.stop_lane(action.lane)
        return f"stop lane {action.lane} on the next bar"
    if action.kind == "generate":
        attributes = composer_pb2.Attributes(
            bars=action.bars,
            tempo_bpm=round(bridge.tempo_bpm, 2),
            time_signature=composer_pb2.TimeSignature(
                numerator=config.time_signature.numerator, denominator=config.time_signature.denominator),
        )
        details = []
        if action.key is not None:
            tonic, mode = action.key
            attributes.key.CopyFrom(composer_pb2.Key(
                tonic_pitch_class=tonic, mode=composer_pb2.MODE_MAJOR if mode == "major" else composer_pb2.MODE_MINOR))
            details.append(f"key {PITCH_CLASS_NAMES[tonic]} {mode}")
        if action.density is not None:
            attributes.rhythm_intensity = action.density
            details.append(f"density {action.density:.2f}")
        request_id = session.generate(generate=composer_pb2.GenerateRequest(attributes=attributes), **common)
        return f"{request_id}: generate {action.bars} bar(s) {', '.join(details)} -> lane {action.lane}, {where}"
    if action.kind == "continue":
        request_id = session.generate(continue_clip=composer_pb2.ContinueRequest(bars=action.bars), **common)
    elif action.kind == "vary":
        request_id = session.generate(vary=composer_pb2.VaryRequest(num_variations=1, similarity_distance=0.5), **common)
    elif action.kind == "infill":
        request_id = session.generate(infill=composer_pb2.InfillRequest(bars=list(action.infill_bars)), **common)
    elif action.kind == "drumify":
        request_id = session.generate(drumify=bridge_pb2.DrumifyClip(), **common)
    elif action.kind == "accompany":
        request_id = session.generate(accompany=bridge_pb2.AccompanyClip(), **common)
    else:
        raise ValueError(f"no command {action.kind!r}")
    return f"{request_id}: {action.kind} what you played -> lane {action.lane}, {where}"


def _ask_for_clip(args: argparse.Namespace, session, config: BridgeConfig, clip_bytes: bytes | None) -> None:  # type: ignore[no-untyped-def]
    from protos.ostinato.v1 import composer_pb2

    if clip_bytes is not None:
        session.generate(render_midi=clip_bytes, launch_immediately=args.launch_immediately)
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
    from daw_bridge.bridge import ClockMode
    from protos.ostinato.v1 import bridge_pb2

    kind = event.WhichOneof("event")
    if kind == "midi":
        bridge.play(bytes(event.midi.data), event.midi.beat, event.midi.track)
    elif kind == "clip":
        if event.clip.midi:
            say(f"clip {event.request_id or event.clip.request_id}: launches at beat {event.clip.launch_beat:g}")
        else:  # audio only (an accompaniment): its notice says where the files are
            say(f"audio {event.request_id or event.clip.request_id}: {len(event.clip.wav) // 1024} KiB ready")
    elif kind == "mix":
        mix = event.mix
        if mix.output_port < (bridge.ports.output_count if bridge.ports is not None else 1):
            bridge.player.set_mix(mix.output_port, mute=mix.mute if mix.HasField("mute") else None,
                                  solo=mix.solo if mix.HasField("solo") else None)
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
