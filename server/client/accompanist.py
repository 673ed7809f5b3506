"""Accompanist calls of the Python client: drums for a drumless mix, backing for a melody.

    with Client("localhost:50051") as client:
        result = client.accompany(Path("song.wav").read_bytes(), part="drums", mix=True)
        result.write_wav("drums.wav"); result.write_wav("mix.wav", stem="")
        print(result.summary.tempo_bpm, len(result.summary.beat_times_s))
        for event in client.iter_accompany(wav_bytes, part="backing"):
            ...   # AccompanyProgress / AccompanyNotice / AccompanyAudioStart / AccompanyAudioBlock / AccompanySummary
"""

from __future__ import annotations

import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Union

import numpy as np

from protos.ostinato.v1 import accompanist_pb2, accompanist_pb2_grpc
from server.client import events
from server.client.base import ClientBase

PARTS = {"drums": accompanist_pb2.PART_DRUMS, "backing": accompanist_pb2.PART_BACKING}
# What writes the part: None = the server's default for the part (tokens for drums, composer for backing).
MODELS = {None: accompanist_pb2.ACCOMPANY_MODEL_UNSPECIFIED, "tokens": accompanist_pb2.ACCOMPANY_MODEL_TOKENS,
          "composer": accompanist_pb2.ACCOMPANY_MODEL_COMPOSER}
ROUTE_NAMES = {value: name or "" for name, value in MODELS.items()}


# The names this module has always exported: the shared events (a block's samples have shape
# (frames, channels) of its stem).
AccompanyProgress = events.Progress
AccompanyNotice = events.Notice
AccompanyAudioStart = events.AudioStart
AccompanyAudioBlock = events.AudioBlock


# The summary is the contract's own message (route: an AccompanyModel value; ROUTE_NAMES names it).
AccompanySummary = accompanist_pb2.AccompanySummary


AccompanyEvent = Union[AccompanyProgress, AccompanyNotice, AccompanyAudioStart, AccompanyAudioBlock, AccompanySummary]


@dataclass
class AccompanyResult:
    """Collected stems: "drums" or "backing", and "" (the mix) when asked for."""

    formats: dict[str, AccompanyAudioStart] = field(default_factory=dict)
    pcm: dict[str, bytearray] = field(default_factory=dict)
    summary: AccompanySummary | None = None
    notices: list[AccompanyNotice] = field(default_factory=list)

    def samples(self, stem: str) -> np.ndarray:
        """float32 (frames, channels) of a stem."""
        return events.pcm_to_float(bytes(self.pcm[stem]), self.formats[stem].channels)

    def write_wav(self, path: str | Path, stem: str) -> None:
        fmt = self.formats[stem]
        with wave.open(str(path), "wb") as out:
            out.setnchannels(fmt.channels)
            out.setsampwidth(2)
            out.setframerate(fmt.sample_rate_hz)
            out.writeframes(bytes(self.pcm[stem]))


def _event(response: accompanist_pb2.AccompanyResponse, channels_of: dict[str, int]) -> AccompanyEvent | None:
    if response.WhichOneof("event") == "summary":
        return response.summary
    return events.stream_event(response, channels_of)


class AccompanistCalls(ClientBase):
    def iter_accompany(self, audio: bytes, *, part: str = "drums", mix: bool = False, seed: int = 0,
                       temperature: float = 0.0, model: str | None = None,
                       timeout_s: float | None = None) -> Iterator[AccompanyEvent]:
        """Streams the call's events; closing the iterator early cancels the call on the server.

        Args:
            audio: WAV or FLAC bytes.
            part: "drums" (for a drumless mix) or "backing" (for a melody).
            mix: also stream the input mixed with the part (stem "").
            temperature: 0 for the model's default (token model only).
            model: "tokens" (the audio-token model), "composer" (the HYBRID backing route: transcription,
                key/chords, symbolic Composer, FluidSynth) or None for the server's default for the part.
        """
        if part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
        if model not in MODELS:
            raise ValueError(f"model must be 'tokens', 'composer' or None, got {model!r}")
        request = accompanist_pb2.AccompanyRequest(audio=audio, part=PARTS[part], mix=mix, seed=seed,
                                                   temperature=temperature, model=MODELS[model])
        stub = self._stub(accompanist_pb2_grpc.AccompanistStub)
        channels_of: dict[str, int] = {}
        for response in self._stream(stub.Accompany, request, timeout_s):
            event = _event(response, channels_of)
            if event is not None:
                yield event

    def accompany(self, audio: bytes, **kwargs) -> AccompanyResult:  # type: ignore[no-untyped-def]
        """Like iter_accompany, collected into an AccompanyResult."""
        result = AccompanyResult()
        for event in self.iter_accompany(audio, **kwargs):
            if isinstance(event, AccompanyAudioStart):
                result.formats[event.stem] = event
                result.pcm[event.stem] = bytearray()
            elif isinstance(event, AccompanyAudioBlock):
                result.pcm[event.stem].extend(event.pcm_s16le)
            elif isinstance(event, AccompanyNotice):
                result.notices.append(event)
            elif isinstance(event, AccompanySummary):
                result.summary = event
        return result
