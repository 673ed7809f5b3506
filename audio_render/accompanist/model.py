"""The accompaniment model as the server uses it: load, then stream an accompaniment part for audio.

    model = Accompanist.from_pretrained(PRETRAINED_ACCOMPANIST_DIR)
    for chunk in model.generate(AccompanimentRequest(samples, 44_100, part="drums", mix=True)):
        chunk.start_frame, chunk.part, chunk.mix     # float32 (n, channels) at the input's rate

Pipeline: the input is averaged to mono, resampled to the codec's 16 kHz and brought to a fixed
loudness; its beats are tracked (the learned tracker) and its codec tokens, chroma and beat indices
computed for the whole clip (a few hundred ms for a minute). Then the network writes the part's tokens
window by window (256 frames, 32 of context each side; drums sampled at the config's drums_temperature,
backing the likeliest codes), and the tokens are decoded to audio chunk by chunk (mel
codec + Griffin-Lim), each chunk decoded with margins and cross-faded into the previous one, then
resampled to the input's rate with context on both sides. Chunks come in playback order: the first one
(CHUNK_S[0] seconds) needs only the first window and its decode. The part and the mix have exactly the
input's length, rate and channel count.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from audio_render.accompanist.beats import BeatGrid, beat_indices
from audio_render.accompanist.features import InputFeatures, input_features
from audio_render.accompanist.network import CONFIG_NAME, PARTS, WEIGHTS_NAME, AccompanistConfig, AccompanistNet, write_net
from ostinato.errors import InvalidInput, MissingAsset
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn, no_progress

CODEC_DIR = "codec"
PRETRAINED_ACCOMPANIST_DIR = Path(__file__).resolve().parent.parent / "pretrained" / "accompanist"
FIRST_CHUNK_S = 1
CHUNK_S = 4
CROSSFADE_SAMPLES = 1024
DECODE_MARGIN_FRAMES = 8
RESAMPLE_CONTEXT_S = 0.1
MIX_PART_GAIN = 1.0


@dataclass(frozen=True)
class AccompanimentRequest:
    """What to accompany and how.

    Args:
        samples: float32 (frames, channels) input audio, finite, in [-1, 1].
        sample_rate_hz: its rate; the output keeps it.
        part: "drums" (for a drumless mix) or "backing" (for a melody).
        mix: also return the input mixed with the part.
        seed: sampling seed (used when temperature > 0).
        temperature: 0 takes the most likely codes; None uses the model's default.
    """

    samples: np.ndarray
    sample_rate_hz: int
    part: str = "drums"
    mix: bool = False
    seed: int = 0
    temperature: float | None = None


@dataclass
class AccompanimentChunk:
    """Frames [start_frame, start_frame + len(part)) of the part (and of the mix when asked for)."""

    start_frame: int
    part: np.ndarray
    mix: np.ndarray | None
    last: bool


@dataclass
class Analysis:
    """What the model heard: the tracked beats (seconds) and tempo, for the caller to report, and (hybrid
    routes) a sentence saying what wrote the part. The hybrid route sends more, after its first chunks, each
    time it has heard more of the melody (the last: all of it): the last one is what the caller reports."""

    beats: BeatGrid
    tempo_bpm: float
    description: str = ""
    key: str = ""
    chords: tuple[str, ...] = ()


class Accompanist:
    """The network, the codec it writes for, and the streamed generation around them."""

    def __init__(self, net: AccompanistNet, codec) -> None:
        self.net = net.eval()
        # drums: push the codes away from those written without beats (network.sample); 0 turns it off
        self.beat_guidance = net.config.beat_guidance
        self.codec = codec
        self.config: AccompanistConfig = net.config
        if codec.config.num_codebooks != self.config.num_codebooks or codec.config.codebook_size != self.config.codebook_size:
            raise MissingAsset("the accompanist's codec does not match its network (codebooks or codebook size)")

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def default_temperature(self, part: str) -> float:
        """The sampling temperature a part gets when the request names none."""
        if part == "drums" and self.config.drums_temperature is not None:
            return self.config.drums_temperature
        return self.config.default_temperature

    # --------------------------------------------------------------------------- persistence
    def save_pretrained(self, directory: str | Path) -> None:
        directory = write_net(directory, self.config.to_json(), self.net)
        if (directory / CODEC_DIR).exists():
            shutil.rmtree(directory / CODEC_DIR)
        self.codec.save_pretrained(directory / CODEC_DIR)

    @classmethod
    def from_pretrained(cls, directory: str | Path = PRETRAINED_ACCOMPANIST_DIR, threads: int | None = None) -> "Accompanist":
        from safetensors.torch import load_file

        from audio_render.codec import MelCodec

        directory = Path(directory)
        if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
            raise MissingAsset(f"no accompaniment model in {directory} (expected {CONFIG_NAME} and {WEIGHTS_NAME})")
        if threads:
            torch.set_num_threads(threads)
        net = AccompanistNet(AccompanistConfig.from_json((directory / CONFIG_NAME).read_text()))
        tensors = load_file(str(directory / WEIGHTS_NAME))
        net.load_state_dict({k: v.float() for k, v in tensors.items()})
        return cls(net, MelCodec.from_pretrained(directory / CODEC_DIR))

    # --------------------------------------------------------------------------- generation
    def warm_up(self) -> None:
        """Runs one short generation so librosa's JIT compilation (seconds) happens before the first call."""
        rate = self.codec.sample_rate_hz
        clicks = np.zeros((2 * rate, 1), np.float32)
        clicks[:: rate // 2] = 0.5
        for _ in self.generate(AccompanimentRequest(clicks, rate, part="drums")):
            pass

    def analyse(self, mono_16k: np.ndarray) -> InputFeatures:
        return input_features(mono_16k, self.codec)

    def generate(self, request: AccompanimentRequest, progress: ProgressFn = no_progress,
                 cancel: CancelToken | None = None) -> Iterator[Analysis | AccompanimentChunk]:
        """Streams what the model heard (one Analysis, first), then the part (and the mix) in playback
        order as AccompanimentChunks; see the module doc.

        Raises:
            InvalidInput: unknown part, or audio that is not (frames, channels) float samples.
            Cancelled: when `cancel` trips (checked between windows and chunks).
        """
        if request.part not in PARTS:
            raise InvalidInput(f"part must be one of {', '.join(PARTS)}, got {request.part!r}")
        samples = np.asarray(request.samples, dtype=np.float32)
        if samples.ndim != 2 or samples.shape[0] == 0:
            raise InvalidInput("the audio must be (frames, channels) samples with at least one frame")
        cancel = cancel or CancelToken()
        rate, codec_rate = int(request.sample_rate_hz), self.codec.sample_rate_hz
        input_frames = samples.shape[0]
        progress(ProgressEvent("analyse", 0.02, "tracking beats and encoding the input"))
        from audio_render.chroma import resample

        mono = resample(samples.mean(axis=1), rate, codec_rate)
        features = self.analyse(mono)
        yield Analysis(features.beats, features.beats.tempo_bpm)
        cancel.check()
        frames = features.tokens.shape[1]
        phase, bar = beat_indices(features.beats, frames, self.config.frame_rate_hz, self.config.phase_bins,
                                  self.config.bar_positions)
        writer = _TokenWriter(self, features, torch.from_numpy(phase), torch.from_numpy(bar), PARTS.index(request.part),
                              request.temperature if request.temperature is not None else self.default_temperature(request.part),
                              request.seed)
        part_samples_16k = int(math.ceil(input_frames * codec_rate / rate))
        decoder = _ChunkDecoder(self.codec, writer, part_samples_16k, rate, 1.0 / features.gain)
        boundaries = chunk_boundaries(part_samples_16k, codec_rate)
        for index, (start, stop) in enumerate(boundaries):
            cancel.check()
            part_mono = decoder.chunk(start, stop)
            out_start = start * rate // codec_rate
            out_stop = input_frames if index == len(boundaries) - 1 else stop * rate // codec_rate
            part_mono = _fit(part_mono, out_stop - out_start)
            part = np.repeat(part_mono[:, None], samples.shape[1], axis=1)
            mix = None
            if request.mix:
                mix = np.clip(samples[out_start:out_stop] + MIX_PART_GAIN * part, -1.0, 1.0)
            progress(ProgressEvent("generate", 0.05 + 0.95 * stop / part_samples_16k,
                                   f"{stop / codec_rate:.1f} s of {part_samples_16k / codec_rate:.1f} s"))
            yield AccompanimentChunk(out_start, part.astype(np.float32), mix, index == len(boundaries) - 1)


def _fit(audio: np.ndarray, length: int) -> np.ndarray:
    if audio.shape[0] >= length:
        return audio[:length]
    return np.pad(audio, (0, length - audio.shape[0]))


def chunk_boundaries(total_samples: int, rate_hz: int) -> list[tuple[int, int]]:
    """Chunks on whole seconds (so every integer output rate maps them to whole samples)."""
    bounds = []
    start, size = 0, FIRST_CHUNK_S * rate_hz
    while start < total_samples:
        stop = min(total_samples, start + size)
        bounds.append((start, stop))
        start, size = stop, CHUNK_S * rate_hz
    return bounds


class _TokenWriter:
    """Writes the part's tokens window by window, as far as asked."""

    def __init__(self, model: Accompanist, features: InputFeatures, phase: torch.Tensor, bar: torch.Tensor,
                 part: int, temperature: float, seed: int) -> None:
        self.model = model
        self.features = features
        self.phase, self.bar = phase, bar
        self.part = torch.tensor([part])
        self.temperature = temperature
        self.generator = torch.Generator().manual_seed(int(seed) & 0x7FFF_FFFF_FFFF_FFFF)
        self.frames = features.tokens.shape[1]
        self.codes = torch.zeros(model.config.num_codebooks, self.frames, dtype=torch.long)
        self.done = 0

    @torch.no_grad()
    def ensure(self, frame: int) -> None:
        """Writes tokens at least up to `frame` (exclusive)."""
        config = self.model.config
        keep = config.window_frames - 2 * config.context_frames
        while self.done < min(frame, self.frames):
            begin = max(0, self.done - config.context_frames)
            stop = min(self.frames, begin + config.window_frames)
            begin = max(0, stop - config.window_frames)
            window = slice(begin, stop)
            hidden = self.model.net.hidden(
                self.features.tokens[None, :, window], self.features.chroma[None, window],
                self.phase[None, window], self.bar[None, window], self.part,
            )
            unconditioned = None
            guidance = self.model.beat_guidance if self.part.item() == PARTS.index("drums") else 0.0
            if guidance > 0:
                unconditioned = self.model.net.hidden(
                    self.features.tokens[None, :, window], self.features.chroma[None, window],
                    torch.full_like(self.phase[None, window], config.phase_bins),
                    torch.full_like(self.bar[None, window], config.bar_positions), self.part,
                )
            codes = self.model.net.sample(hidden, self.temperature, self.generator, unconditioned, guidance)[0]
            new_stop = stop if stop == self.frames else min(stop, self.done + keep)
            self.codes[:, self.done : new_stop] = codes[:, self.done - begin : new_stop - begin]
            self.done = new_stop


class _ChunkDecoder:
    """Decodes the part chunk by chunk at 16 kHz and resamples each chunk to the output rate."""

    def __init__(self, codec, writer: _TokenWriter, total_samples: int, out_rate_hz: int, gain: float) -> None:
        self.codec = codec
        self.writer = writer
        self.hop = codec.config.hop_length
        self.rate = codec.sample_rate_hz
        self.out_rate = out_rate_hz
        self.gain = gain
        self.final = np.zeros(total_samples, np.float32)
        self.tail: np.ndarray | None = None
        step = self.rate // math.gcd(self.rate, out_rate_hz)  # 16 kHz samples that map to whole output samples
        self.context = step * int(math.ceil(RESAMPLE_CONTEXT_S * self.rate / step))
        fade = np.linspace(0.0, 1.0, CROSSFADE_SAMPLES, dtype=np.float32)
        self.fade_in, self.fade_out = np.sqrt(fade), np.sqrt(1.0 - fade)

    def _decode(self, first_sample: int, stop_sample: int) -> np.ndarray:
        """Audio for samples [first_sample, stop_sample) at 16 kHz, decoded with margins."""
        frames = self.writer.frames
        first_frame = max(0, first_sample // self.hop - DECODE_MARGIN_FRAMES)
        stop_frame = min(frames, -(-stop_sample // self.hop) + DECODE_MARGIN_FRAMES)
        self.writer.ensure(stop_frame)
        audio = self.codec.decode(self.writer.codes[:, first_frame:stop_frame], seed=first_frame) * self.gain
        offset = first_sample - first_frame * self.hop
        piece = audio[offset : offset + stop_sample - first_sample]
        return np.pad(piece, (0, stop_sample - first_sample - piece.shape[0]))

    def chunk(self, start: int, stop: int) -> np.ndarray:
        """Part samples [start, stop) (16 kHz positions) at the output rate."""
        ahead = self.context + CROSSFADE_SAMPLES
        audio = self._decode(start, stop + ahead)
        if self.tail is not None:
            audio[:CROSSFADE_SAMPLES] = self.tail * self.fade_out + audio[:CROSSFADE_SAMPLES] * self.fade_in
        length = stop - start
        self.final[start:stop] = audio[:length]
        self.tail = audio[length : length + CROSSFADE_SAMPLES].copy()
        if self.out_rate == self.rate:
            return self.final[start:stop].copy()
        from scipy.signal import resample_poly

        before = self.final[max(0, start - self.context) : start]
        before = np.pad(before, (self.context - before.shape[0], 0))
        segment = np.concatenate([before, audio[: length + self.context]])
        divisor = math.gcd(self.rate, self.out_rate)
        resampled = resample_poly(segment, self.out_rate // divisor, self.rate // divisor).astype(np.float32)
        offset = self.context * self.out_rate // self.rate
        return resampled[offset : offset + length * self.out_rate // self.rate]
