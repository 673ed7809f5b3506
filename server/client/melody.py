"""MelodyGenerator calls of the Python client: melody-conditioned generation, streamed or whole.

    with Client("localhost:50051") as client:
        result = client.generate_from_melody(midi=Path("song.mid").read_bytes(), text="warm strings", duration_s=20)
        result.write_wav("out.wav"); print(result.summary.chroma_cosine)
        for event in client.iter_generate_from_melody(audio=wav_bytes, text="solo flute"):
            ...   # MelodyProgress / MelodyNotice / MelodyAudioStart / MelodyAudioBlock / MelodySummary
        print(client.describe_melody_model())
"""

from __future__ import annotations

import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Union

import numpy as np

from protos.ostinato.v1 import melody_pb2, melody_pb2_grpc, renderer_pb2
from server.client.base import ClientBase
from server.client import events

# The names this module has always exported: the shared events (melody audio is mono, so a block's
# samples have shape (frames,)) and the contract's own messages for the summary and the model.
MelodyProgress = events.Progress
MelodyNotice = events.Notice
MelodyAudioStart = events.AudioStart
MelodyAudioBlock = events.AudioBlock
MelodySummary = melody_pb2.GenerationSummary
MelodyModelInfo = melody_pb2.DescribeMelodyModelResponse


MelodyEvent = Union[MelodyProgress, MelodyNotice, MelodyAudioStart, MelodyAudioBlock, MelodySummary]


@dataclass
class MelodyResult:
    sample_rate_hz: int = 0
    pcm: bytearray = field(default_factory=bytearray)
    summary: MelodySummary | None = None
    notices: list[MelodyNotice] = field(default_factory=list)

    @property
    def samples(self) -> np.ndarray:
        return events.pcm_to_float(bytes(self.pcm))

    def write_wav(self, path: str | Path) -> None:
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.sample_rate_hz)
            out.writeframes(bytes(self.pcm))


def _event(response: melody_pb2.GenerateFromMelodyResponse) -> MelodyEvent | None:
    if response.WhichOneof("event") == "summary":
        return response.summary
    return events.stream_event(response, None)  # mono: blocks of shape (frames,)


class MelodyCalls(ClientBase):
    def iter_generate_from_melody(
        self,
        *,
        audio: bytes | None = None,
        midi: bytes | None = None,
        text: str = "",
        duration_s: float = 0.0,
        seed: int = 0,
        guidance_scale: float = 0.0,
        temperature: float = 0.0,
        top_k: int = 0,
        remove_drums_and_bass: bool = False,
        soundfont: str = "",
        chunk_frames: int = 0,
        timeout_s: float | None = None,
    ) -> Iterator[MelodyEvent]:
        """Streams the generation's events; closing the iterator early cancels the call on the server.

        Give exactly one of `audio` (WAV/FLAC bytes) or `midi` (Standard MIDI File bytes, rendered first).
        Zeros mean the model's defaults; duration_s 0 means the melody's length.
        """
        if (audio is None) == (midi is None):
            raise ValueError("give exactly one of audio= or midi=")
        request = melody_pb2.GenerateFromMelodyRequest(
            text=text, duration_s=duration_s, seed=seed, guidance_scale=guidance_scale, temperature=temperature,
            top_k=top_k, remove_drums_and_bass=remove_drums_and_bass, chunk_frames=chunk_frames,
            render=renderer_pb2.RenderMidiRequest(soundfont=soundfont),
        )
        if audio is not None:
            request.audio = audio
        else:
            request.midi = midi
        stub = self._stub(melody_pb2_grpc.MelodyGeneratorStub)
        for response in self._stream(stub.GenerateFromMelody, request, timeout_s):
            event = _event(response)
            if event is not None:
                yield event

    def generate_from_melody(self, **kwargs) -> MelodyResult:  # type: ignore[no-untyped-def]
        """Like iter_generate_from_melody, collected into a MelodyResult."""
        result = MelodyResult()
        for event in self.iter_generate_from_melody(**kwargs):
            if isinstance(event, MelodyAudioStart):
                result.sample_rate_hz = event.sample_rate_hz
            elif isinstance(event, MelodyAudioBlock):
                result.pcm.extend(event.pcm_s16le)
            elif isinstance(event, MelodyNotice):
                result.notices.append(event)
            elif isinstance(event, MelodySummary):
                result.summary = event
        return result

    def describe_melody_model(self, timeout_s: float | None = None) -> MelodyModelInfo:
        stub = self._stub(melody_pb2_grpc.MelodyGeneratorStub)
        return self._unary(stub.DescribeMelodyModel, melody_pb2.DescribeMelodyModelRequest(), timeout_s)
