"""Arranger servicer: an arrangement file in, the piece streamed out section by section.

Thin: checks sizes, hands the text and files to server.arrangement (which validates everything before
any work), runs it in a worker thread while streaming Progress and each finished section, then sends
the piece and, when asked, its audio.
"""

from __future__ import annotations

import json
import time
from typing import Callable, Iterator

import grpc
import numpy as np

from ostinato.errors import InvalidInput, LimitExceeded
from ostinato.runtime import CancelToken, ProgressEvent
from protos.ostinato.v1 import arrangement_pb2, arrangement_pb2_grpc, common_pb2
from server.rpc import check_size, handle_errors, progress_message, stream_work
from server.settings import Settings

SERVICE_NAME = arrangement_pb2.DESCRIPTOR.services_by_name["Arranger"].full_name
MAX_ARRANGEMENT_CHARS = 256 * 1024
CHUNK_FRAMES = 65_536
PCM = common_pb2.AUDIO_ENCODING_PCM_S16LE


def _section_message(section, piece_start_s: float, midi: bytes) -> arrangement_pb2.SectionDone:  # type: ignore[no-untyped-def]
    from server.arrangement.arranger import bars_with_notes
    from server.arrangement.piece import spelled

    spec = section.spec
    tracks = [arrangement_pb2.TrackNotes(name=name, notes=len(part),
                                         bars_with_notes=bars_with_notes(part, section.bar_q, spec.bars))
              for name, part in section.parts.items()]
    return arrangement_pb2.SectionDone(
        index=section.index, name=spec.name, start_bar=section.start_bar, bars=spec.bars, start_s=piece_start_s,
        key=spelled(spec.key), tempo_bpm=spec.tempo_bpm, time_signature=f"{spec.time_signature[0]}/{spec.time_signature[1]}",
        midi=midi, tracks=tracks, how=section.how, cached=section.cached, cache_key=section.cache_key,
        cache_entry=section.to_bytes(), notices=section.notices)


def _audio_messages(samples: np.ndarray, sample_rate_hz: int, stem: str) -> Iterator[arrangement_pb2.ArrangeResponse]:
    from audio_render.audio_io import to_pcm_s16le

    frames = samples.shape[0]
    yield arrangement_pb2.ArrangeResponse(format=common_pb2.AudioFormat(
        sample_rate_hz=sample_rate_hz, channels=samples.shape[1], encoding=PCM, total_frames=frames, stem=stem))
    for start in range(0, max(frames, 1), CHUNK_FRAMES):
        stop = min(frames, start + CHUNK_FRAMES)
        yield arrangement_pb2.ArrangeResponse(chunk=common_pb2.AudioChunk(
            data=to_pcm_s16le(samples[start:stop]), start_frame=start, stem=stem, last=stop >= frames))


class ArrangerServicer(arrangement_pb2_grpc.ArrangerServicer):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _arranger(self, cache):  # type: ignore[no-untyped-def]
        from server.arrangement.run import arranger_for

        return arranger_for(self._settings, cache)  # the process's models, shared with the other services

    def _load(self, text: str, source_name: str, files, capabilities):  # type: ignore[no-untyped-def]
        from server.arrangement.loader import load_arrangement

        if not text.strip():
            raise InvalidInput("arrangement_toml is empty: send the text of an arrangement file")
        if len(text) > MAX_ARRANGEMENT_CHARS:
            raise LimitExceeded("arrangement_toml", len(text), MAX_ARRANGEMENT_CHARS, "characters")
        for name, data in files.items():
            check_size(f"file {name!r}", data, self._settings.limits.max_audio_bytes)
        return load_arrangement(text, source_name=source_name or "arrangement.toml", files=dict(files),
                                capabilities=capabilities)

    @handle_errors
    def Arrange(self, request: arrangement_pb2.ArrangeRequest,
                context: grpc.ServicerContext) -> Iterator[arrangement_pb2.ArrangeResponse]:
        from audio_render.render import RenderOptions
        from audio_render.soundfonts import resolve_soundfont
        from server.arrangement.arranger import MemoryCache, SectionResult

        arranger = self._arranger(MemoryCache(dict(request.cache)))
        arrangement = self._load(request.arrangement_toml, request.source_name, request.files, arranger.capabilities)
        settings = self._settings
        soundfont = None
        if request.render_audio:
            soundfont = resolve_soundfont(request.soundfont, settings.soundfont_dirs, settings.default_soundfont,
                                          restrict=True)
            RenderOptions(sample_rate_hz=request.sample_rate_hz or 44_100).validate()
        started = time.monotonic()
        timeline = {"start_s": 0.0}

        def work(emit: Callable[[object], None], token: CancelToken):  # type: ignore[no-untyped-def]
            def on_section(section: SectionResult) -> None:
                from server.arrangement.piece import Piece

                alone = Piece(arrangement, [section])
                emit(_section_message(section, timeline["start_s"], alone.midi()))
                timeline["start_s"] += section.length_q * 60.0 / section.spec.tempo_bpm

            piece = arranger.arrange(arrangement, progress=emit, cancel=token, on_section=on_section,
                                     audio_layers=request.render_audio)
            if piece.duration_s + 2.0 > settings.limits.max_render_s and request.render_audio:
                raise LimitExceeded("rendered audio length", round(piece.duration_s, 1), settings.limits.max_render_s, "s")
            audio = None
            if request.render_audio:
                from audio_render.render import render_midi
                from server.arrangement.layers import mix_layers

                emit(ProgressEvent("render", 0.0, "rendering the mix and stems"))
                options = RenderOptions(soundfont=soundfont, sample_rate_hz=request.sample_rate_hz or 44_100,
                                        channels=2, stems=request.stems)
                audio = mix_layers(piece, render_midi(piece.midi(), options, cancel=token), request.stems)
            return piece, audio

        def to_response(event: object):  # type: ignore[no-untyped-def]
            if isinstance(event, ProgressEvent):
                return arrangement_pb2.ArrangeResponse(progress=progress_message(event, started))
            if isinstance(event, arrangement_pb2.SectionDone):
                return arrangement_pb2.ArrangeResponse(section=event)
            return None

        piece, audio = yield from stream_work(context, work, to_response)
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as directory:
            png = piece.overview_png(Path(directory) / "overview.png").read_bytes()
        yield arrangement_pb2.ArrangeResponse(piece=arrangement_pb2.PieceDone(
            midi=piece.midi(), overview_png=png, summary_json=json.dumps(piece.summary()),
            duration_s=piece.duration_s, bars=arrangement.total_bars, seed=arrangement.seed))
        if audio is not None:
            yield from _audio_messages(audio.samples, audio.sample_rate_hz, "")
            for name, samples in audio.stems.items():
                yield from _audio_messages(samples, audio.sample_rate_hz, name.split(":", 1)[-1])

    @handle_errors
    def ValidateArrangement(self, request: arrangement_pb2.ValidateArrangementRequest,
                            context: grpc.ServicerContext) -> arrangement_pb2.ValidateArrangementResponse:
        from server.arrangement.loader import ArrangementError

        try:
            arrangement = self._load(request.arrangement_toml, request.source_name, request.files,
                                     self._arranger(None).capabilities)
        except ArrangementError as error:
            return arrangement_pb2.ValidateArrangementResponse(valid=False, problems=[
                arrangement_pb2.ArrangementProblem(line=p.line or 0, field=p.field, message=p.message)
                for p in error.problems])
        return arrangement_pb2.ValidateArrangementResponse(
            valid=True, bars=arrangement.total_bars, sections=[s.name for s in arrangement.sections])

    @handle_errors
    def Transcribe(self, request: arrangement_pb2.TranscribeRequest,
                   context: grpc.ServicerContext) -> arrangement_pb2.TranscribeResponse:
        from audio_render.transcribe import notes_to_midi, quantise, transcribe

        check_size("audio", request.audio, self._settings.limits.max_audio_bytes)
        if request.program > 127:
            raise InvalidInput(f"program {request.program} is not a General MIDI program (0-127)")
        tempo_bpm = request.tempo_bpm or 120.0
        meter = (request.time_signature_numerator or 4, request.time_signature_denominator or 4)
        if meter[1] not in (1, 2, 4, 8, 16, 32) or not 1 <= meter[0] <= 32:
            raise InvalidInput(f"time signature {meter[0]}/{meter[1]} is not a meter")
        notes = transcribe(request.audio, monophonic=not request.polyphonic,
                           max_duration_s=self._settings.limits.max_input_audio_s)
        duration_s = float((notes.onset + notes.duration).max()) if len(notes) else 0.0
        if not request.unquantised:
            notes = quantise(notes, tempo_bpm, int(request.steps_per_quarter or 4))
        midi = notes_to_midi(notes, tempo_bpm=tempo_bpm, time_signature=meter, program=int(request.program))
        return arrangement_pb2.TranscribeResponse(midi=midi, notes=len(notes), duration_s=duration_s)


def add_to_server(server: grpc.Server, settings: Settings) -> str:
    arrangement_pb2_grpc.add_ArrangerServicer_to_server(ArrangerServicer(settings), server)
    return SERVICE_NAME
