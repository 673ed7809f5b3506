"""Cost bounds on untrusted input, in one place.

Every MIDI and audio reader in the tree checks its bytes against these before it parses or decodes
them (ostinato.midi_scan), so a small hostile file cannot make a reader allocate gigabytes or run
for seconds. The server's per-request limits (server.settings.Limits) take their byte sizes from
here too. Each default is chosen to admit any real song (hours of a long concert file would not
pass, and are not what this server is for) while bounding the work a reader can be talked into.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class MidiLimits:
    """What a Standard MIDI File may hold before any library parses it.

    Args:
        max_bytes: size of the file (4 MiB: a dense hour-long orchestral file is ~1 MiB).
        max_tracks: track chunks (256: 16 channels x 16 ports).
        max_events: events of every kind over all tracks (100,000: mido and pretty_midi build one
            Python object per event, ~13 us each, so the limit bounds their parse at ~1.5 s of CPU;
            a dense 10-minute pop arrangement has ~20,000).
        max_notes: note-ons with a velocity over all tracks (40,000; ~20 notes/s for half an hour).
        max_ticks: the last event's tick on any track (10,000,000: pretty_midi's own guard before
            note_seq raised it to 1e10; pretty_midi allocates one float per tick).
        max_duration_s: length in seconds through the file's tempo map (3,600 s).
        min_tempo_bpm / max_tempo_bpm: a set_tempo outside this is refused (a 0 tempo divides by
            zero; 0xFFFFFF us per quarter is 3.6 bpm).
    """

    max_bytes: int = 4 * MIB
    max_tracks: int = 256
    max_events: int = 100_000
    max_notes: int = 40_000
    max_ticks: int = 10_000_000
    max_duration_s: float = 3600.0
    min_tempo_bpm: float = 4.0
    max_tempo_bpm: float = 1000.0


@dataclass(frozen=True)
class AudioLimits:
    """What a WAV/FLAC/OGG file may declare before it is decoded.

    Args:
        max_bytes: size of the file (32 MiB: 3 minutes of 44.1 kHz stereo 16-bit WAV).
        min_sample_rate_hz / max_sample_rate_hz: 4 kHz-192 kHz (a 1 Hz or 1 MHz file is refused;
            resampling 1 MHz to 32 kHz is what made a 6 KB file cost 12 s).
        max_channels: 8.
        max_duration_s: 600 s (services ask for less, e.g. settings.limits.max_input_audio_s).
        max_decoded_bytes: float32 samples after decoding (frames x channels x 4 bytes, 256 MiB).
    """

    max_bytes: int = 32 * MIB
    min_sample_rate_hz: int = 4_000
    max_sample_rate_hz: int = 192_000
    max_channels: int = 8
    max_duration_s: float = 600.0
    max_decoded_bytes: int = 256 * MIB


DEFAULT_MIDI_LIMITS = MidiLimits()
DEFAULT_AUDIO_LIMITS = AudioLimits()

# Strings from a request echoed back in an error message are cut to this many characters.
MAX_ECHO_CHARS = 100


def echo(value: object, max_chars: int = MAX_ECHO_CHARS) -> str:
    """`repr`-like text of a request value for an error message, cut to max_chars."""
    text = str(value)
    if len(text) > max_chars:
        return f"{text[:max_chars]}... ({len(text):,} characters)"
    return text


def check_size(what: str, data: bytes, limit_bytes: int) -> None:
    """Raises LimitExceeded when a payload is over its limit, InvalidInput when it is empty."""
    from ostinato.errors import InvalidInput, LimitExceeded

    if not data:
        raise InvalidInput(f"{what} is empty")
    if len(data) > limit_bytes:
        raise LimitExceeded(what, len(data) / MIB, limit_bytes / MIB, "MiB")


def check_range(what: str, value: float, low: float, high: float, unit: str = "") -> float:
    """Returns `value` when it is a finite number in [low, high]; InvalidInput naming the range otherwise
    (NaN, infinities and negative sizes are refused everywhere a number comes from a request)."""
    from ostinato.errors import InvalidInput

    suffix = f" {unit}" if unit else ""
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidInput(f"{what} must be {low:g}-{high:g}{suffix}, got {echo(value)}")
    return value


# Ranges of the numeric attributes a request may ask for (None: not asked). Anything else, NaN and
# infinities included, is refused with InvalidInput naming the field and its range.
ATTRIBUTE_RANGES: dict[str, tuple[float, float, str]] = {
    "tempo_bpm": (20.0, 300.0, "bpm"),
    "pitch_range_octaves": (0.0, 10.0, "octaves"),
    "notes_per_bar": (0.0, 128.0, "notes"),
    "rhythm_intensity": (0.0, 1.0, ""),
    "duration_s": (0.0, 3600.0, "s"),
    "polyphony": (0.0, 16.0, "notes"),
}


def check_attribute_ranges(attributes: object) -> None:
    """Checks every numeric attribute of ATTRIBUTE_RANGES that `attributes` sets (is not None), the
    time signature (numerator 1-32 over 1, 2, 4, 8, 16 or 32) and bars (at least 1)."""
    from ostinato.errors import InvalidInput

    for name, (low, high, unit) in ATTRIBUTE_RANGES.items():
        value = getattr(attributes, name, None)
        if value is not None:
            check_range(name, float(value), low, high, unit)
    time_signature = getattr(attributes, "time_signature", None)
    if time_signature is not None:
        numerator, denominator = time_signature
        if not 1 <= numerator <= 32 or denominator not in (1, 2, 4, 8, 16, 32):
            raise InvalidInput(f"time signature {echo(numerator)}/{echo(denominator)}: the numerator must be 1-32 "
                               "and the denominator 1, 2, 4, 8, 16 or 32")
    bars = getattr(attributes, "bars", None)
    if bars is not None and bars < 1:
        raise InvalidInput(f"bars must be at least 1, got {echo(bars)}")
