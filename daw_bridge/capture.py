"""Recording what the user plays into a clip that can prime generation (continue, vary, drums for it)."""

from __future__ import annotations

import math
import threading

from daw_bridge import midi
from daw_bridge.midi import TimedMessage
from daw_bridge.timeline import TimeSignature, check_tempo
from ostinato.errors import InvalidInput


class Capture:
    """Collects channel messages with their beat positions; `to_midi()` writes them as a clip that
    starts at the bar line before the first note.

    Args:
        tempo_bpm: written into the clip (the model reads it as a hint; beats are what matter).
        time_signature: the bar grid of the clip.
        max_bars: older material is forgotten beyond this many bars before the newest note.
    """

    def __init__(self, tempo_bpm: float = 120.0, time_signature: TimeSignature = TimeSignature(), max_bars: int = 64) -> None:
        self.tempo_bpm = check_tempo(tempo_bpm)
        self.time_signature = time_signature
        self.max_bars = max_bars
        self._messages: list[TimedMessage] = []
        self._lock = threading.Lock()

    def record(self, data: bytes, beat: float, track: int = 0) -> bool:
        """Keeps a channel voice message (notes, controllers, pitch bend); returns whether it was kept."""
        if not data or not 0x80 <= data[0] < 0xF0:
            return False
        with self._lock:
            self._messages.append(TimedMessage.of(beat, bytes(data), track))
            horizon = beat - self.max_bars * self.time_signature.beats_per_bar
            if self._messages[0].beat < horizon:
                self._messages = [m for m in self._messages if m.beat >= horizon]
        return True

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    @property
    def note_count(self) -> int:
        with self._lock:
            return sum(1 for m in self._messages if midi.is_note_on(m.data))

    def to_midi(self, last_bars: int | None = None) -> bytes:
        """The captured material as Standard MIDI File bytes, shifted so the clip starts at the bar line
        before its first note; `last_bars` keeps only the final bars. Notes still held are closed at the
        end. Raises InvalidInput when nothing was played."""
        with self._lock:
            messages = sorted(self._messages)
        if not any(midi.is_note_on(m.data) for m in messages):
            raise InvalidInput("nothing has been captured yet: play some notes on the bridge's input port first")
        bar = self.time_signature.beats_per_bar
        last_beat = messages[-1].beat
        first_note = next(m.beat for m in messages if midi.is_note_on(m.data))
        origin = math.floor(first_note / bar + 1e-9) * bar
        if last_bars is not None:
            origin = max(origin, (math.floor(last_beat / bar + 1e-9) - last_bars + 1) * bar)
        kept: list[TimedMessage] = []
        held: dict[tuple[int, int], int] = {}
        for message in messages:
            if message.beat < origin:
                continue
            key = (message.data[0] & 0x0F, message.data[1]) if len(message.data) == 3 else None
            if midi.is_note_on(message.data):
                held[key] = held.get(key, 0) + 1  # type: ignore[index]
            elif midi.is_note_off(message.data):
                if not held.get(key):  # type: ignore[arg-type]
                    continue  # its note-on fell before the clip
                held[key] -= 1  # type: ignore[index]
            kept.append(TimedMessage(message.beat - origin, message.order, message.track, message.data))
        end = max(last_beat - origin, 0.0)
        for (channel, pitch), count in held.items():
            kept.extend(TimedMessage.of(end, midi.note_off(channel, pitch), 0) for _ in range(count))
        return midi.midi_from_messages(
            kept, self.tempo_bpm, (self.time_signature.numerator, self.time_signature.denominator)
        )
