"""Hostile requests, as hypothesis strategies: each draws a `Case` (an RPC, a request message and the
class of attack it belongs to).

The classes are those of the reliability issue: mutated MIDI bytes (bit flips, truncation, huge delta
times, broken tempo / time-signature / key-signature events, ticks_per_beat 0, SMPTE division, lying
chunk lengths and track counts, notes held for 0x0FFFFFFF ticks, 100k-note files), mutated audio
(1 Hz and 1 MHz rates, 10-hour declared lengths, flipped data sizes, NaN/inf float samples, empty or
non-audio bytes), absurd numeric fields (NaN, inf, negative, 2^32-1) and long or NUL-carrying strings.
Every input stays under 1 MB.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from hypothesis import strategies as st

from protos.ostinato.v1 import composer_pb2, melody_pb2, renderer_pb2

NAN, INF = float("nan"), float("inf")
ABSURD_FLOATS = (NAN, INF, -INF, -1.0, -1e-9, 0.0, 1e-45, 1e9, 3.4e38, -3.4e38)
ABSURD_UINTS = (0, 1, 2, 65, 127, 128, 1000, 2**16, 2**31 - 1, 2**32 - 1)


@dataclass(frozen=True)
class Case:
    """One call: `rpc` names the method (see harness.CALLS), `attack` the class of input."""

    rpc: str
    request: Any
    attack: str

    @property
    def input_bytes(self) -> int:
        return self.request.ByteSize()


# ---- seed files ---------------------------------------------------------------------------------------
def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def smf(tracks: list[bytes], ticks_per_beat: int = 480, midi_format: int = 1, declared_tracks: int | None = None) -> bytes:
    """A Standard MIDI File from raw track bodies (events without the end-of-track)."""
    header = b"MThd" + struct.pack(">IHHH", 6, midi_format, len(tracks) if declared_tracks is None else declared_tracks,
                                   ticks_per_beat)
    body = b""
    for events in tracks:
        events += b"\x00\xff\x2f\x00"
        body += b"MTrk" + struct.pack(">I", len(events)) + events
    return header + body


def melody_track(pitches: list[int], step_ticks: int = 240, program: int = 0, channel: int = 0) -> bytes:
    events = b"\x00\xff\x51\x03" + (500_000).to_bytes(3, "big")
    events += b"\x00\xff\x58\x04\x04\x02\x18\x08"
    events += bytes([0x00, 0xC0 | channel, program])
    for pitch in pitches:
        events += bytes([0x00, 0x90 | channel, pitch, 96]) + _vlq(step_ticks) + bytes([0x80 | channel, pitch, 0])
    return events


@lru_cache(maxsize=None)
def seed_midis() -> tuple[bytes, ...]:
    scale = smf([melody_track([60, 62, 64, 65, 67, 69, 71, 72])])
    tune = smf([melody_track([67, 69, 71, 72, 74, 72, 71, 69, 67, 64, 65, 67, 62, 64, 60, 60], 240, 40)])
    two = smf([melody_track([72, 74, 76, 77, 79, 77, 76, 74]), melody_track([48, 43, 45, 41], 960, 33, 1)])
    return scale, tune, two


@lru_cache(maxsize=None)
def seed_wav() -> bytes:
    from audio_render.audio_io import encode_wav

    t = np.arange(16_000) / 16_000
    return encode_wav((0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None], 16_000)


@lru_cache(maxsize=None)
def seed_float_wav() -> bytes:
    from audio_render.audio_io import encode_wav

    t = np.arange(8_000) / 8_000
    return encode_wav((0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[:, None], 8_000, subtype="FLOAT")


@lru_cache(maxsize=None)
def seed_flac() -> bytes:
    import io

    import soundfile

    t = np.arange(16_000) / 16_000
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16_000, format="FLAC")
    return buffer.getvalue()


# ---- MIDI attacks -------------------------------------------------------------------------------------
def _meta(kind: int, data: bytes) -> bytes:
    return b"\x00\xff" + bytes([kind]) + _vlq(len(data)) + data


@st.composite
def hostile_midi(draw: st.DrawFn) -> tuple[str, bytes]:
    """(attack, bytes) for one of the MIDI attack classes."""
    seed = draw(st.sampled_from(seed_midis()))
    attack = draw(st.sampled_from((
        "bit_flips", "byte_writes", "truncate", "insert", "huge_delta", "tempo", "time_signature",
        "key_signature", "ticks_per_beat", "chunk_length", "track_count", "held_note", "many_notes",
        "running_status", "random_bytes", "valid",
    )))
    data = bytearray(seed)
    if attack == "bit_flips":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
    elif attack == "byte_writes":
        for _ in range(draw(st.integers(1, 6))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.sampled_from((0x00, 0x7F, 0x80, 0xF7, 0xFF)))
    elif attack == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif attack == "insert":
        at = draw(st.integers(14, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=16))
    elif attack == "huge_delta":
        delta = draw(st.sampled_from((0x0FFFFFFF, 0x0FFFFF, 10_000_001, 2**21)))
        data = bytearray(smf([b"\x00\x90\x3c\x60" + _vlq(delta) + b"\x80\x3c\x00"]))
    elif attack == "tempo":
        tempo = draw(st.sampled_from((0, 1, 0xFFFFFF, 59_999, 60_000)))
        length = draw(st.sampled_from((3, 3, 2, 0, 4)))
        data = bytearray(smf([_meta(0x51, tempo.to_bytes(3, "big")[:length].ljust(length, b"\0")) + melody_track([60, 64])]))
    elif attack == "time_signature":
        numerator = draw(st.integers(0, 255))
        power = draw(st.integers(0, 255))
        data = bytearray(smf([_meta(0x58, bytes([numerator, power, 24, 8])[: draw(st.sampled_from((4, 4, 2, 1)))])
                              + melody_track([60, 64, 67])]))
    elif attack == "key_signature":
        data = bytearray(smf([_meta(0x59, bytes([draw(st.integers(0, 255)), draw(st.integers(0, 255))]))
                              + melody_track([60, 62])]))
    elif attack == "ticks_per_beat":
        data = bytearray(smf([melody_track([60, 62, 64])], ticks_per_beat=draw(st.sampled_from((0, 1, 0x7FFF, 0x8000, 0xE728)))))
    elif attack == "chunk_length":
        struct.pack_into(">I", data, 18, draw(st.sampled_from((0, 1, 0x7FFFFFFF, 0xFFFFFFFF))))
    elif attack == "track_count":
        struct.pack_into(">H", data, 10, draw(st.sampled_from((0, 2, 255, 0xFFFF))))
    elif attack == "held_note":
        data = bytearray(smf([b"\x00\x90\x3c\x60" + _vlq(draw(st.sampled_from((0x0FFFFFFF, 9_999_999, 4_000_000))))
                              + b"\x80\x3c\x00"]))
    elif attack == "many_notes":
        count = draw(st.sampled_from((20_000, 100_001, 120_000)))
        one = b"\x00\x90\x3c\x60\x00\x80\x3c\x00"  # zero-length notes, all at tick 0: 8 bytes each
        data = bytearray(smf([one * count]))
    elif attack == "running_status":
        data = bytearray(smf([b"\x00\x3c\x60" + melody_track([60])]))
    elif attack == "random_bytes":
        data = bytearray(b"MThd" + draw(st.binary(min_size=0, max_size=200)))
    return attack, bytes(data)


# ---- audio attacks ------------------------------------------------------------------------------------
@st.composite
def hostile_audio(draw: st.DrawFn) -> tuple[str, bytes]:
    attack = draw(st.sampled_from((
        "sample_rate", "channels", "data_size", "riff_size", "nan_samples", "empty", "not_audio",
        "truncate", "bit_flips", "flac_streaminfo", "valid",
    )))
    data = bytearray(seed_wav())
    if attack == "sample_rate":
        struct.pack_into("<I", data, 24, draw(st.sampled_from((0, 1, 100, 1_000_000, 2_000_000, 0xFFFFFFFF))))
    elif attack == "channels":
        struct.pack_into("<H", data, 22, draw(st.sampled_from((0, 3, 9, 255, 0xFFFF))))
    elif attack == "data_size":
        struct.pack_into("<I", data, 40, draw(st.sampled_from((0, 0x7FFFFFFF, 0xFFFFFFFF, 16_000 * 3600 * 10))))
    elif attack == "riff_size":
        struct.pack_into("<I", data, 4, draw(st.sampled_from((0, 4, 0xFFFFFFFF))))
    elif attack == "nan_samples":
        data = bytearray(seed_float_wav())
        at = 44 + 4 * draw(st.integers(0, 7_999))
        data[at:at + 4] = struct.pack("<f", draw(st.sampled_from((NAN, INF, -INF, 1e30))))
    elif attack == "empty":
        data = bytearray()
    elif attack == "not_audio":
        data = bytearray(draw(st.sampled_from((b"hello", b"MThd\0\0\0\6", b"OggS" + b"\0" * 60, b"\0" * 64))))
    elif attack == "truncate":
        data = data[: draw(st.integers(0, 60))]
    elif attack == "bit_flips":
        for _ in range(draw(st.integers(1, 6))):
            i = draw(st.integers(0, 63))
            data[i] ^= 1 << draw(st.integers(0, 7))
    elif attack == "flac_streaminfo":
        data = bytearray(seed_flac())
        i = draw(st.integers(18, 25))  # sample rate, channels, bits, total samples
        data[i] ^= 1 << draw(st.integers(0, 7))
    return attack, bytes(data)


# ---- calls --------------------------------------------------------------------------------------------
def _float(draw: st.DrawFn, usual: tuple[float, ...]) -> float:
    return draw(st.sampled_from(ABSURD_FLOATS + usual))


@st.composite
def sampling(draw: st.DrawFn) -> composer_pb2.Sampling:
    return composer_pb2.Sampling(seed=draw(st.integers(0, 2**64 - 1)), temperature=_float(draw, (0.9, 1.0)),
                                 top_k=draw(st.sampled_from(ABSURD_UINTS)), candidates=draw(st.sampled_from((0, 1, 9, 2**32 - 1))))


@st.composite
def midi_case(draw: st.DrawFn) -> Case:
    attack, midi = draw(hostile_midi())
    rpc = draw(st.sampled_from(("DescribeMidi", "RenderMidi", "Vary", "Interpolate", "Continue", "Infill",
                                "Drumify", "Groove", "MelodyFromMidi")))
    attack = f"midi/{attack}"
    if rpc == "DescribeMidi":
        return Case(rpc, composer_pb2.DescribeMidiRequest(midi=midi), attack)
    if rpc == "RenderMidi":
        return Case(rpc, renderer_pb2.RenderMidiRequest(midi=midi, sample_rate_hz=16_000, channels=1), attack)
    if rpc == "Vary":
        return Case(rpc, composer_pb2.VaryRequest(midi=midi, num_variations=1, similarity_distance=0.3), attack)
    if rpc == "Interpolate":
        return Case(rpc, composer_pb2.InterpolateRequest(start_midi=midi, end_midi=seed_midis()[0], steps=2), attack)
    if rpc == "Continue":
        return Case(rpc, composer_pb2.ContinueRequest(primer_midi=midi, bars=1, continuation_only=True), attack)
    if rpc == "Infill":
        return Case(rpc, composer_pb2.InfillRequest(midi=midi, bars=[2]), attack)
    if rpc == "Drumify":
        return Case(rpc, composer_pb2.DrumifyRequest(midi=midi, merge=draw(st.booleans())), attack)
    if rpc == "Groove":
        return Case(rpc, composer_pb2.GrooveRequest(midi=midi, amount=draw(st.sampled_from((0.0, 0.5, 1.0)))), attack)
    return Case("GenerateFromMelody", melody_pb2.GenerateFromMelodyRequest(midi=midi, duration_s=1.0), attack)


@st.composite
def audio_case(draw: st.DrawFn) -> Case:
    attack, audio = draw(hostile_audio())
    return Case("GenerateFromMelody", melody_pb2.GenerateFromMelodyRequest(audio=audio, duration_s=1.0),
                f"audio/{attack}")


@st.composite
def field_case(draw: st.DrawFn) -> Case:
    """Absurd numbers and strings in otherwise valid requests."""
    rpc = draw(st.sampled_from(("Generate", "RenderMidi", "Vary", "GenerateFromMelody", "Groove", "Drumify",
                                "ParseText")))
    if rpc == "Generate":
        attributes = composer_pb2.Attributes(bars=draw(st.sampled_from((0, 1, 2, 65, 2**32 - 1))))
        name = draw(st.sampled_from(("pitch_range_octaves", "notes_per_bar", "rhythm_intensity", "duration_s",
                                     "polyphony", "tempo_bpm")))
        setattr(attributes, name, _float(draw, (1.0, 2.0)))
        if draw(st.booleans()):
            attributes.time_signature.numerator = draw(st.sampled_from(ABSURD_UINTS))
            attributes.time_signature.denominator = draw(st.sampled_from(ABSURD_UINTS))
        if draw(st.booleans()):
            attributes.instruments.add(name=draw(st.sampled_from(("piano", "x" * 200_000, "pi\0ano", "🎹" * 50))))
        return Case(rpc, composer_pb2.GenerateRequest(attributes=attributes, sampling=draw(sampling())),
                    f"fields/generate_{name}")
    if rpc == "RenderMidi":
        request = renderer_pb2.RenderMidiRequest(
            midi=seed_midis()[0], sample_rate_hz=draw(st.sampled_from(ABSURD_UINTS + (96_000,))),
            channels=draw(st.sampled_from((0, 1, 2, 3, 2**32 - 1))), gain=_float(draw, (0.5,)),
            tail_s=_float(draw, (1.0,)), chunk_frames=draw(st.sampled_from(ABSURD_UINTS + (262_144, 262_145))),
            soundfont=draw(st.sampled_from(("", "TimGM6mb", "../../etc/passwd", "Tim\0GM6mb", "x" * 100_000))))
        return Case(rpc, request, "fields/render")
    if rpc == "Vary":
        request = composer_pb2.VaryRequest(midi=seed_midis()[1], num_variations=draw(st.sampled_from(ABSURD_UINTS)),
                                           similarity_distance=_float(draw, (0.5,)), sampling=draw(sampling()))
        request.shifts.add(attribute=draw(st.sampled_from(("density", "x" * 100_000, ""))), amount=_float(draw, (0.5,)))
        return Case(rpc, request, "fields/vary")
    if rpc == "GenerateFromMelody":
        request = melody_pb2.GenerateFromMelodyRequest(
            audio=seed_wav(), duration_s=_float(draw, (1.0,)), guidance_scale=_float(draw, (3.0,)),
            temperature=_float(draw, (1.0,)), top_k=draw(st.sampled_from(ABSURD_UINTS)),
            chunk_frames=draw(st.sampled_from(ABSURD_UINTS)), text=draw(st.sampled_from(("", "piano", "x" * 100_000))))
        return Case(rpc, request, "fields/melody")
    if rpc == "Groove":
        request = composer_pb2.GrooveRequest(midi=seed_midis()[1], amount=_float(draw, (0.5,)), sampling=draw(sampling()))
        return Case(rpc, request, "fields/groove")
    if rpc == "Drumify":
        style = draw(st.sampled_from(("", "rock", "x" * 100_000, "ro\0ck", "🥁" * 50)))
        return Case(rpc, composer_pb2.DrumifyRequest(midi=seed_midis()[1], style=style, sampling=draw(sampling())),
                    "fields/drumify")
    text = draw(st.one_of(st.text(max_size=200), st.sampled_from(("x" * 500_000, "\0" * 100, "in 7/0 at nan bpm"))))
    return Case(rpc, composer_pb2.ParseTextRequest(text=text), "fields/parse_text")


def any_case() -> st.SearchStrategy[Case]:
    """The mix the fuzz pass draws from: MIDI attacks most, then fields, then audio."""
    return st.one_of(midi_case(), midi_case(), field_case(), audio_case())
