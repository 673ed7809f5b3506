"""Renderer calls of the Python client: render MIDI to audio (whole, or streamed), list SoundFonts.

    with Client("localhost:50051") as client:
        result = client.render_midi(Path("song.mid").read_bytes(), soundfont="TimGM6mb", stems=True)
        result.write_wav("song.wav"); result.write_stems("stems/")
        for event in client.iter_render_midi(midi_bytes):   # AudioStart / AudioBlock / RenderProgress / ...
            ...
"""

from __future__ import annotations

import re
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Union

import numpy as np

from protos.ostinato.v1 import common_pb2, renderer_pb2, renderer_pb2_grpc
from server.client.base import ClientBase
from server.client.events import AudioBlock, AudioStart, pcm_to_float, stream_event

# The names this module has always exported: the contract's own messages for progress, notices and
# the summary (the audio events, with decoded samples, are server.client.events').
RenderProgress = common_pb2.Progress
RenderNotice = common_pb2.Notice
RenderSummary = renderer_pb2.RenderSummary


@dataclass(frozen=True)
class Effects:
    """Reverb and chorus; a parameter left at 0 keeps FluidSynth's default."""

    reverb: bool = True
    reverb_room_size: float = 0.0
    reverb_damping: float = 0.0
    reverb_width: float = 0.0
    reverb_level: float = 0.0
    chorus: bool = True
    chorus_voices: int = 0
    chorus_level: float = 0.0
    chorus_speed_hz: float = 0.0
    chorus_depth_ms: float = 0.0

    def to_proto(self) -> renderer_pb2.Effects:
        return renderer_pb2.Effects(
            reverb_enabled=self.reverb,
            reverb_room_size=self.reverb_room_size,
            reverb_damping=self.reverb_damping,
            reverb_width=self.reverb_width,
            reverb_level=self.reverb_level,
            chorus_enabled=self.chorus,
            chorus_voices=self.chorus_voices,
            chorus_level=self.chorus_level,
            chorus_speed_hz=self.chorus_speed_hz,
            chorus_depth_ms=self.chorus_depth_ms,
        )


RenderEvent = Union[RenderProgress, AudioStart, AudioBlock, RenderNotice, RenderSummary]


def _midi_bytes(midi: bytes | str | Path) -> bytes:
    return midi if isinstance(midi, (bytes, bytearray)) else Path(midi).read_bytes()


def safe_file_name(stem: str) -> str:
    """A stem name ("1:Acoustic Grand Piano") as a portable file name ("1-Acoustic_Grand_Piano")."""
    name = re.sub(r"[^\w.-]+", "_", stem.replace(":", "-")).strip("._")
    return name or "stem"


def _write_wav_s16(path: Path, pcm_s16le: bytes, sample_rate_hz: int, channels: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate_hz)
        out.writeframes(pcm_s16le)


@dataclass
class RenderResult:
    """A finished render: the mix and the stems as float32 (frames, channels), plus the raw PCM."""

    sample_rate_hz: int
    channels: int
    pcm: dict[str, bytearray] = field(default_factory=dict)  # "" -> mix, else stem name
    summary: RenderSummary | None = None
    notices: list[RenderNotice] = field(default_factory=list)

    @property
    def samples(self) -> np.ndarray:
        return pcm_to_float(bytes(self.pcm.get("", b"")), self.channels)

    @property
    def stems(self) -> dict[str, np.ndarray]:
        return {name: pcm_to_float(bytes(data), self.channels) for name, data in self.pcm.items() if name}

    @property
    def duration_s(self) -> float:
        return len(self.pcm.get("", b"")) / (2 * self.channels) / self.sample_rate_hz

    def write_wav(self, path: str | Path) -> Path:
        """Writes the mix as a 16-bit WAV file."""
        path = Path(path)
        _write_wav_s16(path, bytes(self.pcm.get("", b"")), self.sample_rate_hz, self.channels)
        return path

    def write_stems(self, directory: str | Path) -> list[Path]:
        """Writes one 16-bit WAV per stem into `directory` (created if needed)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, data in self.pcm.items():
            if name:
                path = directory / f"{safe_file_name(name)}.wav"
                _write_wav_s16(path, bytes(data), self.sample_rate_hz, self.channels)
                written.append(path)
        return written


class RendererCalls(ClientBase):
    def _render_request(
        self,
        midi: bytes | str | Path,
        *,
        soundfont: str,
        sample_rate_hz: int,
        channels: int,
        stems: bool,
        effects: Effects | None,
        gain: float,
        tail_s: float | None,
        chunk_frames: int,
    ) -> renderer_pb2.RenderMidiRequest:
        request = renderer_pb2.RenderMidiRequest(
            midi=_midi_bytes(midi),
            soundfont=soundfont,
            sample_rate_hz=sample_rate_hz,
            channels=channels,
            chunk_frames=chunk_frames,
            stems=stems,
            gain=gain,
            tail_s=-1.0 if tail_s is None else tail_s,
        )
        if effects is not None:
            request.effects.CopyFrom(effects.to_proto())
        return request

    def iter_render_midi(
        self,
        midi: bytes | str | Path,
        *,
        soundfont: str = "",
        sample_rate_hz: int = 0,
        channels: int = 0,
        stems: bool = False,
        effects: Effects | None = None,
        gain: float = 0.0,
        tail_s: float | None = None,
        chunk_frames: int = 0,
        timeout_s: float | None = None,
    ) -> Iterator[RenderEvent]:
        """Streams a render as typed events, audio blocks as soon as the server has them.

        Args:
            midi: Standard MIDI File bytes, or the path of a .mid file.
            soundfont: a name from list_soundfonts() or a path under the server's SoundFont folders;
                empty for the server's default.
            sample_rate_hz, channels, gain, chunk_frames: 0 for the server's defaults (44,100 Hz,
                stereo, 0.5, 16,384 frames).
            stems: also stream one stem per track.
            effects: reverb/chorus; None for FluidSynth's defaults.
            tail_s: seconds rendered after the MIDI ends; None for the server's default (2 s).

        Raises:
            ServerError: INVALID_ARGUMENT (bad MIDI or options), RESOURCE_EXHAUSTED (too long or too
                big), FAILED_PRECONDITION (unknown SoundFont).
        """
        stub = self._stub(renderer_pb2_grpc.RendererStub)
        request = self._render_request(
            midi, soundfont=soundfont, sample_rate_hz=sample_rate_hz, channels=channels, stems=stems,
            effects=effects, gain=gain, tail_s=tail_s, chunk_frames=chunk_frames,
        )
        channels_of: dict[str, int] = {}
        for response in self._stream(stub.RenderMidi, request, timeout_s):
            is_summary = response.WhichOneof("event") == "summary"
            event = response.summary if is_summary else stream_event(response, channels_of)
            if event is not None:
                yield event

    def render_midi(
        self,
        midi: bytes | str | Path,
        *,
        soundfont: str = "",
        sample_rate_hz: int = 0,
        channels: int = 0,
        stems: bool = False,
        effects: Effects | None = None,
        gain: float = 0.0,
        tail_s: float | None = None,
        chunk_frames: int = 0,
        on_progress: Callable[[RenderProgress], None] | None = None,
        timeout_s: float | None = None,
    ) -> RenderResult:
        """Renders MIDI to audio and returns it whole; arguments as for iter_render_midi."""
        stub = self._stub(renderer_pb2_grpc.RendererStub)
        request = self._render_request(
            midi, soundfont=soundfont, sample_rate_hz=sample_rate_hz, channels=channels, stems=stems,
            effects=effects, gain=gain, tail_s=tail_s, chunk_frames=chunk_frames,
        )
        result = RenderResult(sample_rate_hz=0, channels=0)
        # Raw responses, not iter_render_midi's events: the whole result needs no per-chunk decoding.
        for response in self._stream(stub.RenderMidi, request, timeout_s):
            kind = response.WhichOneof("event")
            if kind == "chunk":
                result.pcm[response.chunk.stem].extend(response.chunk.data)
            elif kind == "format":
                f = response.format
                result.sample_rate_hz, result.channels = f.sample_rate_hz, f.channels
                result.pcm[f.stem] = bytearray()
            elif kind == "progress" and on_progress is not None:
                on_progress(response.progress)
            elif kind == "notice":
                result.notices.append(response.notice)
            elif kind == "summary":
                result.summary = response.summary
        return result

    def list_soundfonts(self, timeout_s: float | None = None) -> list[renderer_pb2.SoundFontInfo]:
        """SoundFonts the server can use (name, path, size_bytes, is_default)."""
        stub = self._stub(renderer_pb2_grpc.RendererStub)
        return list(self._unary(stub.ListSoundFonts, renderer_pb2.ListSoundFontsRequest(), timeout_s).soundfonts)
