"""The DAW bridge: virtual MIDI ports, MIDI clock following and mastering, a lookahead scheduler that
launches clips on the bar grid, capture of the user's playing, and sessions that fan events out to many
followers. It knows nothing of gRPC: the server injects the code that makes clips.

- daw_bridge.midi: MIDI bytes, clips <-> beat-stamped messages.
- daw_bridge.timeline / clock / scheduler: pure timing code (injected clock).
- daw_bridge.ports / player / bridge: the real ports and the thread that writes to them on time.
- daw_bridge.capture: the user's playing as a primer clip.
- daw_bridge.session / events: sessions, their events and their followers' queues.
"""

from daw_bridge.bridge import BridgeConfig, ClockMode, LocalBridge, PositionReport, default_api
from daw_bridge.capture import Capture
from daw_bridge.clock import ClockFollower, MasterClock, TransportEvent
from daw_bridge.midi import Clip, TimedMessage, clip_from_midi, midi_from_messages
from daw_bridge.ports import MidiApi, PortConfig, PortSet, measure_transit_latency
from daw_bridge.scheduler import LookaheadScheduler, launch_beat
from daw_bridge.events import SessionEvent, Watcher
from daw_bridge.session import ClipMaker, ClipRequest, MadeClip, Session, SessionLimits, SessionRegistry
from daw_bridge.timeline import Clock, SystemClock, TimeSignature, Transport, TransportState

__all__ = [
    "BridgeConfig",
    "Capture",
    "Clip",
    "ClipMaker",
    "ClipRequest",
    "Clock",
    "ClockFollower",
    "ClockMode",
    "LocalBridge",
    "LookaheadScheduler",
    "MadeClip",
    "MasterClock",
    "MidiApi",
    "PortConfig",
    "PortSet",
    "PositionReport",
    "Session",
    "SessionEvent",
    "SessionLimits",
    "SessionRegistry",
    "SystemClock",
    "TimeSignature",
    "TimedMessage",
    "Transport",
    "TransportEvent",
    "TransportState",
    "Watcher",
    "clip_from_midi",
    "default_api",
    "launch_beat",
    "measure_transit_latency",
    "midi_from_messages",
]
