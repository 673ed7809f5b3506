"""A cheap, allocation-safe look at untrusted MIDI and audio bytes, before any library parses them.

    summary = scan_midi(midi_bytes)          # InvalidInput / LimitExceeded, else a MidiSummary
    summary = scan_audio(wav_or_flac_bytes)  # the same for WAV and FLAC headers

`scan_midi` walks a Standard MIDI File in pure Python over the bytes: header, track chunks, delta
times, running status, every event's length, and the meta events that readers divide by or look up
(tempo, time signature, key signature). It keeps only counters, so its memory is constant and its
time is linear in the file's size; it stops at the first limit passed. MIDI readers (mido,
pretty_midi, symusic) are then called only on files whose ticks, seconds, events, notes and tracks
are known to be within ostinato.limits: pretty_midi, for one, allocates an array with one entry per
tick, and importing note_seq raises its own guard against that from 1e7 to 1e10 ticks.

`scan_audio` reads a WAV's RIFF chunks or a FLAC's STREAMINFO: sample rate, channels, frames (the
declared data size is trusted only as far as the bytes go) and the decoded size, so nothing is
decoded or resampled past the limits.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ostinato.errors import InvalidInput, LimitExceeded
from ostinato.limits import DEFAULT_AUDIO_LIMITS, DEFAULT_MIDI_LIMITS, MIB, AudioLimits, MidiLimits

DEFAULT_TEMPO_US = 500_000  # 120 bpm, the SMF default

# Meta events whose data has one fixed length (readers index into it).
_META_LENGTHS = {0x20: (1,), 0x21: (1,), 0x51: (3,), 0x54: (5,), 0x58: (4,), 0x59: (2,), 0x00: (0, 2)}
_META_NAMES = {0x00: "sequence number", 0x20: "channel prefix", 0x21: "MIDI port", 0x51: "tempo",
               0x54: "SMPTE offset", 0x58: "time signature", 0x59: "key signature"}


@dataclass(frozen=True)
class MidiSummary:
    """What a Standard MIDI File holds, counted without parsing it into objects.

    Args:
        format: SMF type 0, 1 or 2.
        tracks: track chunks read.
        ticks_per_beat: the header's division (ticks per quarter note).
        events: events of every kind over all tracks.
        notes: note-ons with a velocity over 0.
        end_tick: the last event's tick on the longest track.
        duration_s: end_tick in seconds through the tempo map.
    """

    format: int
    tracks: int
    ticks_per_beat: int
    events: int
    notes: int
    end_tick: int
    duration_s: float


@dataclass(frozen=True)
class AudioSummary:
    """What an audio file's header declares, checked against its size.

    Args:
        container: "wav" or "flac".
        sample_rate_hz / channels / frames: as the decoder will see them (frames that the bytes
            actually hold, for WAV).
        bits_per_sample: the stored sample size.
    """

    container: str
    sample_rate_hz: int
    channels: int
    frames: int
    bits_per_sample: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate_hz


def _damaged(message: str) -> InvalidInput:
    return InvalidInput(f"The MIDI file is damaged: {message}. Send a valid Standard MIDI File (.mid).")


# ---- MIDI -------------------------------------------------------------------------------------------
def scan_midi(data: bytes, limits: MidiLimits = DEFAULT_MIDI_LIMITS) -> MidiSummary:
    """Checks Standard MIDI File bytes against `limits` without building any message object.

    Raises:
        InvalidInput: empty, not a MIDI file, malformed chunks or events, SMPTE time division,
            ticks_per_beat 0, a tempo of 0 or outside the limits, a time signature with numerator 0
            or denominator byte >= 8, a key signature outside -7..7 sharps / major-minor.
        LimitExceeded: over max_bytes, max_tracks, max_events, max_notes, max_ticks or max_duration_s.
    """
    data = bytes(data) if not isinstance(data, bytes) else data
    size = len(data)
    if size == 0:
        raise InvalidInput("The MIDI data is empty: send the bytes of a Standard MIDI File (.mid).")
    if size > limits.max_bytes:
        raise LimitExceeded("MIDI file size", round(size / MIB, 2), limits.max_bytes / MIB, "MiB")
    if data[:4] != b"MThd":
        raise InvalidInput("This is not a Standard MIDI File (it does not start with 'MThd'): send a .mid file.")
    if size < 14:
        raise _damaged("the header is cut short")
    (header_length,) = struct.unpack_from(">I", data, 4)
    if header_length < 6 or 8 + header_length > size:
        raise _damaged(f"the header declares {header_length} bytes")
    midi_format, declared_tracks, division = struct.unpack_from(">HHH", data, 8)
    if midi_format > 2:
        raise _damaged(f"unknown MIDI file type {midi_format} (0, 1 or 2)")
    if division & 0x8000:
        raise InvalidInput("The MIDI file uses SMPTE time division, which is not supported: export it with "
                           "ticks per quarter note.")
    if division == 0:
        raise _damaged("ticks_per_beat is 0")
    if declared_tracks == 0:
        raise _damaged("the header declares no tracks")
    if declared_tracks > limits.max_tracks:
        raise LimitExceeded("MIDI tracks", declared_tracks, limits.max_tracks)

    counts = _Counts(limits)
    position = 8 + header_length
    tracks = 0
    while position + 8 <= size and tracks < declared_tracks:
        chunk_type = data[position:position + 4]
        (chunk_length,) = struct.unpack_from(">I", data, position + 4)
        start, end = position + 8, position + 8 + chunk_length
        if end > size:
            raise _damaged(f"chunk {tracks + 1} declares {chunk_length:,} bytes but only {size - start:,} remain")
        if chunk_type == b"MTrk":
            _scan_track(data, start, end, tracks, counts)
            tracks += 1
        elif not chunk_type.isalnum():
            raise _damaged(f"unreadable chunk type {chunk_type!r} at byte {position}")
        position = end
    if tracks < declared_tracks:
        raise _damaged(f"the header declares {declared_tracks} tracks but the file holds {tracks}")

    duration_s = _seconds_at(counts.end_tick, counts.tempos, division)
    if duration_s > limits.max_duration_s:
        raise LimitExceeded("MIDI length", round(duration_s, 1), limits.max_duration_s, "s")
    return MidiSummary(midi_format, tracks, division, counts.events, counts.notes, counts.end_tick, duration_s)


class _Counts:
    """Running totals over all tracks, checked against the limits as they grow."""

    __slots__ = ("limits", "events", "notes", "end_tick", "tempos")

    def __init__(self, limits: MidiLimits) -> None:
        self.limits = limits
        self.events = 0
        self.notes = 0
        self.end_tick = 0
        self.tempos: list[tuple[int, int]] = []  # (tick, microseconds per quarter)


def _scan_track(data: bytes, position: int, end: int, track: int, counts: _Counts) -> None:
    limits = counts.limits
    max_ticks, max_events, max_notes = limits.max_ticks, limits.max_events, limits.max_notes
    events, notes = counts.events, counts.notes
    tick = 0
    status = 0  # running status (0: none)
    where = f"track {track + 1}"
    while position < end:
        # delta time: a variable-length quantity of at most 4 bytes
        byte = data[position]
        position += 1
        delta = byte & 0x7F
        length = 1
        while byte & 0x80:
            if length == 4 or position >= end:
                raise _damaged(f"{where}: a delta time is longer than 4 bytes or cut short")
            byte = data[position]
            position += 1
            length += 1
            delta = (delta << 7) | (byte & 0x7F)
        tick += delta
        if tick > max_ticks:
            raise LimitExceeded("MIDI length in ticks", tick, max_ticks, "ticks")
        if position >= end:
            raise _damaged(f"{where} ends inside an event")
        byte = data[position]
        if byte & 0x80:
            position += 1
            if byte < 0xF0:
                status = byte
        elif status == 0:
            raise _damaged(f"{where}: a data byte 0x{byte:02X} without a status byte (running status)")
        else:
            byte = status
        events += 1
        if events > max_events:
            raise LimitExceeded("MIDI events", events, max_events)

        if byte < 0xF0:  # channel message
            size = 1 if 0xC0 <= byte < 0xE0 else 2
            if position + size > end:
                raise _damaged(f"{where} ends inside a channel message")
            first = data[position]
            second = data[position + 1] if size == 2 else 0
            if (first | second) & 0x80:
                raise _damaged(f"{where}: a channel message with a data byte over 127 at tick {tick}")
            if byte & 0xF0 == 0x90 and second:
                notes += 1
                if notes > max_notes:
                    raise LimitExceeded("MIDI notes", notes, max_notes)
            position += size
        elif byte == 0xFF:  # meta event (keeps the running status, as mido does)
            if position >= end:
                raise _damaged(f"{where} ends inside a meta event")
            meta_type = data[position]
            length, position = _read_length(data, position + 1, end, where)
            _check_meta(meta_type, data[position:position + min(length, 8)], length, tick, where, counts)
            position += length
        elif byte == 0xF0 or byte == 0xF7:  # SysEx: cancels running status
            length, position = _read_length(data, position, end, where)
            position += length
            status = 0
        else:
            raise _damaged(f"{where}: status byte 0x{byte:02X} cannot appear in a MIDI file")
        if position > end:
            raise _damaged(f"{where}: an event runs past the end of its track chunk")
    counts.events, counts.notes = events, notes
    counts.end_tick = max(counts.end_tick, tick)


def _read_length(data: bytes, position: int, end: int, where: str) -> tuple[int, int]:
    value = 0
    for _ in range(4):
        if position >= end:
            break
        byte = data[position]
        position += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            if position + value > end:
                raise _damaged(f"{where}: an event declares {value:,} bytes past the end of its track chunk")
            return value, position
    raise _damaged(f"{where}: an event length is longer than 4 bytes or cut short")


def _check_meta(meta_type: int, head: bytes, length: int, tick: int, where: str, counts: _Counts) -> None:
    allowed = _META_LENGTHS.get(meta_type)
    if allowed is None:
        return
    name = _META_NAMES[meta_type]
    if length not in allowed:
        raise _damaged(f"{where}: a {name} event of {length} bytes at tick {tick}")
    limits = counts.limits
    if meta_type == 0x51:
        tempo_us = (head[0] << 16) | (head[1] << 8) | head[2]
        if tempo_us == 0:
            raise _damaged(f"{where}: a tempo of 0 microseconds per quarter note at tick {tick}")
        tempo_bpm = 60_000_000 / tempo_us
        if not limits.min_tempo_bpm <= tempo_bpm <= limits.max_tempo_bpm:
            raise InvalidInput(
                f"The MIDI file sets a tempo of {tempo_bpm:.3g} bpm at tick {tick} ({where}): tempos must be "
                f"{limits.min_tempo_bpm:g}-{limits.max_tempo_bpm:g} bpm.")
        if len(counts.tempos) < counts.limits.max_events:
            counts.tempos.append((tick, tempo_us))
    elif meta_type == 0x58:
        numerator, denominator_power = head[0], head[1]
        if numerator == 0 or denominator_power >= 8:
            raise _damaged(f"{where}: a time signature {numerator}/2^{denominator_power} at tick {tick} "
                           "(numerator 1-255, denominator 1-128)")
    elif meta_type == 0x59:
        sharps = head[0] - 256 if head[0] > 127 else head[0]
        if not -7 <= sharps <= 7 or head[1] > 1:
            raise _damaged(f"{where}: a key signature with {sharps} sharps, mode {head[1]} at tick {tick} "
                           "(-7..7 sharps, mode 0 major or 1 minor)")
    elif meta_type == 0x54:
        if head[0] >> 5 > 3 or head[0] & 0x1F > 23 or head[1] > 59 or head[2] > 59:
            raise _damaged(f"{where}: an SMPTE offset that is not a time at tick {tick}")


def _seconds_at(end_tick: int, tempos: list[tuple[int, int]], ticks_per_beat: int) -> float:
    """Seconds at `end_tick` through the tempo map (all tracks' set_tempo events, the last at a tick wins)."""
    changes: dict[int, int] = {0: DEFAULT_TEMPO_US}
    for tick, tempo_us in sorted(tempos, key=lambda change: change[0]):
        changes[tick] = tempo_us
    seconds = 0.0
    ticks = sorted(changes)
    for index, tick in enumerate(ticks):
        if tick >= end_tick:
            break
        stop = min(end_tick, ticks[index + 1]) if index + 1 < len(ticks) else end_tick
        seconds += (stop - tick) * changes[tick] / 1e6 / ticks_per_beat
    return seconds


# ---- audio ------------------------------------------------------------------------------------------
_WAV_TAGS = {1: "PCM", 3: "float", 6: "A-law", 7: "mu-law", 0xFFFE: "extensible"}


def scan_audio(data: bytes, limits: AudioLimits = DEFAULT_AUDIO_LIMITS,
               max_duration_s: float | None = None) -> AudioSummary:
    """Checks WAV or FLAC bytes from their header, before any decoding.

    Args:
        data: the file's bytes.
        limits: sample rate, channels, duration and decoded-size bounds.
        max_duration_s: a tighter duration bound for this call (e.g. the service's input limit).

    Raises:
        InvalidInput: empty, not WAV/FLAC, a malformed or inconsistent header, no samples.
        LimitExceeded: over max_bytes, the sample-rate range, max_channels, the duration or the
            decoded size.
    """
    size = len(data)
    if size == 0:
        raise InvalidInput("The audio data is empty: send the bytes of a WAV or FLAC file.")
    if size > limits.max_bytes:
        raise LimitExceeded("audio file size", round(size / MIB, 2), limits.max_bytes / MIB, "MiB")
    head = bytes(data[:12])
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        summary = _scan_wav(data)
    elif head[:4] == b"fLaC":
        summary = _scan_flac(data)
    elif head[:4] in (b"RIFX", b"RF64", b"FORM", b"OggS"):
        raise InvalidInput("This audio container is not accepted here: send a RIFF WAV or a FLAC file.")
    else:
        raise InvalidInput("This is not a WAV or FLAC file (unknown header): send the bytes of a WAV or FLAC file.")

    if not limits.min_sample_rate_hz <= summary.sample_rate_hz <= limits.max_sample_rate_hz:
        raise InvalidInput(
            f"The audio's sample rate is {summary.sample_rate_hz:,} Hz: it must be "
            f"{limits.min_sample_rate_hz:,}-{limits.max_sample_rate_hz:,} Hz.")
    if not 1 <= summary.channels <= limits.max_channels:
        raise LimitExceeded("audio channels", summary.channels, limits.max_channels)
    if summary.frames == 0:
        raise InvalidInput("The audio file holds no samples.")
    bound_s = limits.max_duration_s if max_duration_s is None else min(max_duration_s, limits.max_duration_s)
    if summary.duration_s > bound_s:
        raise LimitExceeded("input audio length", round(summary.duration_s, 1), bound_s, "s")
    decoded_bytes = summary.frames * summary.channels * 4
    if decoded_bytes > limits.max_decoded_bytes:
        raise LimitExceeded("decoded audio size", round(decoded_bytes / MIB, 1), limits.max_decoded_bytes / MIB,
                            "MiB")
    return summary


def _scan_wav(data: bytes) -> AudioSummary:
    size = len(data)
    position = 12
    fmt: tuple[int, int, int, int, int] | None = None
    while position + 8 <= size:
        chunk_id = bytes(data[position:position + 4])
        (chunk_length,) = struct.unpack_from("<I", data, position + 4)
        body = position + 8
        if chunk_id == b"fmt ":
            if chunk_length < 16 or body + 16 > size:
                raise InvalidInput("The WAV file's format chunk is cut short.")
            tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == 0xFFFE and chunk_length >= 40 and body + 26 <= size:
                (sub_tag,) = struct.unpack_from("<H", data, body + 24)
                if sub_tag not in (1, 3):
                    raise InvalidInput(f"The WAV file's encoding (extensible sub-format {sub_tag}) is not "
                                       "supported: send PCM or float WAV, or FLAC.")
            if tag not in _WAV_TAGS:
                raise InvalidInput(f"The WAV file's encoding (format tag {tag}) is not supported: send PCM or "
                                   "float WAV, or FLAC.")
            if bits not in (8, 16, 24, 32, 64) or channels == 0 or block_align != channels * bits // 8:
                raise InvalidInput(f"The WAV header is inconsistent ({channels} channels, {bits} bits, "
                                   f"block align {block_align}).")
            fmt = (tag, channels, rate, block_align, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise InvalidInput("The WAV file has its data before its format chunk.")
            _, channels, rate, block_align, bits = fmt
            # The declared size is trusted only as far as the bytes go (a flipped bit declared 80 GiB).
            held = min(chunk_length, size - body)
            return AudioSummary("wav", rate, channels, held // block_align, bits)
        if not chunk_id.isascii() or chunk_length > size:
            break
        position = body + chunk_length + (chunk_length & 1)
    raise InvalidInput("The WAV file has no format or no data chunk.")


def _scan_flac(data: bytes) -> AudioSummary:
    if len(data) < 8 + 34:
        raise InvalidInput("The FLAC file is cut short before its stream information.")
    block_type = data[4] & 0x7F
    (block_length,) = struct.unpack(">I", b"\0" + bytes(data[5:8]))
    if block_type != 0 or block_length != 34:
        raise InvalidInput("The FLAC file does not start with its stream information block.")
    info = int.from_bytes(data[8 + 10:8 + 18], "big")
    rate = info >> 44
    channels = ((info >> 41) & 0x7) + 1
    bits = ((info >> 36) & 0x1F) + 1
    frames = info & 0xFFFFFFFFF
    if frames == 0:
        raise InvalidInput("The FLAC file does not say how many samples it holds: re-encode it with a tool "
                           "that writes the total (e.g. flac or ffmpeg).")
    return AudioSummary("flac", rate, channels, frames, bits)
