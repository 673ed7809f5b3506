"""The events every streaming call of the Python client yields, shared by its services: progress,
notices, and audio (a stream's format, then its blocks, decoded). A service's summary is its own
message from the contract."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protos.ostinato.v1 import common_pb2

S16_SCALE = 32767.0


# Progress and notices are the wire's own messages (stage, fraction, message, elapsed_s; code, message),
# as the Composer calls give them: no mirror classes to keep in step with the contract.
Progress = common_pb2.Progress
Notice = common_pb2.Notice


@dataclass(frozen=True)
class AudioStart:
    """The format of one stream of audio: "" is the mix, otherwise a stem name."""

    sample_rate_hz: int
    channels: int
    total_frames: int
    stem: str = ""


@dataclass(frozen=True)
class AudioBlock:
    """Decoded float32 samples for frames [start_frame, start_frame + len) of one stream, and the s16le
    bytes they came from."""

    start_frame: int
    samples: np.ndarray
    pcm_s16le: bytes
    last: bool
    stem: str = ""


def audio_start_event(message: common_pb2.AudioFormat) -> AudioStart:
    return AudioStart(message.sample_rate_hz, message.channels, message.total_frames, message.stem)


def pcm_to_float(data: bytes, channels: int | None = None) -> np.ndarray:
    """s16le bytes as float32 in [-1, 1]: shape (frames, channels), or (frames,) when channels is None."""
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / S16_SCALE
    return samples if channels is None else samples.reshape(-1, channels)


def audio_block_event(message: common_pb2.AudioChunk, channels: int | None = None) -> AudioBlock:
    return AudioBlock(message.start_frame, pcm_to_float(message.data, channels), message.data, message.last,
                      message.stem)


def stream_event(response, channels_of: dict[str, int] | None):  # type: ignore[no-untyped-def]
    """The shared event of one streamed response (Progress, Notice, AudioStart or AudioBlock), or None
    for the rest (the caller reads its service's own summary). `channels_of` collects each stem's
    channel count from its format, so blocks decode to (frames, channels); None decodes mono blocks
    to (frames,)."""
    kind = response.WhichOneof("event")
    if kind == "progress":
        return response.progress
    if kind == "notice":
        return response.notice
    if kind == "format":
        if channels_of is not None:
            channels_of[response.format.stem] = response.format.channels
        return audio_start_event(response.format)
    if kind == "chunk":
        channels = None if channels_of is None else channels_of.get(response.chunk.stem, 1)
        return audio_block_event(response.chunk, channels)
    return None
