"""Arranger calls of the Python client: Arrange (streamed), ValidateArrangement and Transcribe."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from protos.ostinato.v1 import arrangement_pb2, arrangement_pb2_grpc, common_pb2
from server.client.base import ClientBase

ProgressCallback = Callable[[common_pb2.Progress], None]
SectionCallback = Callable[[arrangement_pb2.SectionDone], None]


@dataclass
class ArrangeResult:
    """What an Arrange call returned: each section, the piece, and audio per stem ("" is the mix)."""

    sections: list[arrangement_pb2.SectionDone] = field(default_factory=list)
    piece: arrangement_pb2.PieceDone | None = None
    audio: dict[str, np.ndarray] = field(default_factory=dict)  # float32 (frames, channels)
    sample_rate_hz: int = 0
    notices: list[common_pb2.Notice] = field(default_factory=list)


def arrangement_files(path: Path) -> dict[str, bytes]:
    """The files an arrangement file's tracks name, read from its folder (to send with the call)."""
    from server.arrangement.loader import referenced_files

    folder = Path(path).parent
    files = {}
    for name in referenced_files(Path(path).read_text()):
        candidate = folder / name
        if candidate.is_file():
            files[name] = candidate.read_bytes()
    return files


class ArrangementCalls(ClientBase):
    def arrange(
        self,
        arrangement: str | Path,
        *,
        files: Mapping[str, bytes] | None = None,
        cache: Mapping[str, bytes] | None = None,
        render_audio: bool = False,
        stems: bool = False,
        soundfont: str = "",
        sample_rate_hz: int = 0,
        on_progress: ProgressCallback | None = None,
        on_section: SectionCallback | None = None,
        timeout_s: float | None = None,
    ) -> ArrangeResult:
        """Writes a piece from an arrangement (a .toml path, or its text).

        A path sends the files its tracks name from its folder; `files` adds or replaces them. `cache`
        is what earlier SectionDone messages returned (cache_key -> cache_entry): sections found there
        are not written again. on_section receives each section as soon as it is finished.
        """
        if isinstance(arrangement, Path):
            text, source_name = arrangement.read_text(), arrangement.name
            sent = {**arrangement_files(arrangement), **(files or {})}
        else:
            text, source_name, sent = arrangement, "arrangement.toml", dict(files or {})
        request = arrangement_pb2.ArrangeRequest(
            arrangement_toml=text, source_name=source_name, files=sent, cache=dict(cache or {}),
            render_audio=render_audio, stems=stems, soundfont=soundfont, sample_rate_hz=sample_rate_hz)
        result = ArrangeResult()
        chunks: dict[str, list[bytes]] = {}
        channels: dict[str, int] = {}
        stub = self._stub(arrangement_pb2_grpc.ArrangerStub)
        for response in self._stream(stub.Arrange, request, timeout_s):
            kind = response.WhichOneof("event")
            if kind == "progress" and on_progress is not None:
                on_progress(response.progress)
            elif kind == "section":
                result.sections.append(response.section)
                if on_section is not None:
                    on_section(response.section)
            elif kind == "piece":
                result.piece = response.piece
            elif kind == "format":
                channels[response.format.stem] = response.format.channels
                result.sample_rate_hz = response.format.sample_rate_hz
                chunks[response.format.stem] = []
            elif kind == "chunk":
                chunks[response.chunk.stem].append(response.chunk.data)
            elif kind == "notice":
                result.notices.append(response.notice)
        for stem, parts in chunks.items():
            pcm = np.frombuffer(b"".join(parts), dtype="<i2").astype(np.float32) / 32767.0
            result.audio[stem] = pcm.reshape(-1, channels[stem])
        return result

    def validate_arrangement(self, arrangement: str | Path, *, files: Mapping[str, bytes] | None = None,
                             timeout_s: float | None = None) -> arrangement_pb2.ValidateArrangementResponse:
        """Every problem of an arrangement (line, field, message), without writing it."""
        if isinstance(arrangement, Path):
            text, source_name = arrangement.read_text(), arrangement.name
            sent = {**arrangement_files(arrangement), **(files or {})}
        else:
            text, source_name, sent = arrangement, "arrangement.toml", dict(files or {})
        request = arrangement_pb2.ValidateArrangementRequest(arrangement_toml=text, source_name=source_name, files=sent)
        return self._unary(self._stub(arrangement_pb2_grpc.ArrangerStub).ValidateArrangement, request, timeout_s)

    def transcribe(self, audio: bytes | str | Path, *, tempo_bpm: float = 0.0, steps_per_quarter: int = 0,
                   polyphonic: bool = False, unquantised: bool = False, program: int = 0,
                   time_signature: tuple[int, int] = (0, 0),
                   timeout_s: float | None = None) -> arrangement_pb2.TranscribeResponse:
        """MIDI of the notes heard in a WAV/FLAC recording, one voice unless polyphonic, quantised to a
        grid of steps_per_quarter at tempo_bpm (defaults: sixteenths at 120 bpm)."""
        data = audio if isinstance(audio, bytes) else Path(audio).read_bytes()
        request = arrangement_pb2.TranscribeRequest(
            audio=data, tempo_bpm=tempo_bpm, steps_per_quarter=steps_per_quarter, polyphonic=polyphonic,
            unquantised=unquantised, program=program, time_signature_numerator=time_signature[0],
            time_signature_denominator=time_signature[1])
        return self._unary(self._stub(arrangement_pb2_grpc.ArrangerStub).Transcribe, request, timeout_s)
