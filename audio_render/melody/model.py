"""The melody model behind a small interface of our own, and its sliding-window, streamed generation.

`MelodyModel.generate(melody_audio, rate, request)` yields `AudioPiece`s in playback order: the first
after FIRST_CHUNK_FRAMES codec frames (~0.5 s of audio), then every CHUNK_FRAMES, so a client can play
before a window is finished. One implementation covers every source (the embedded model, a
transformers-layout checkpoint, a converted audiocraft one), since all are a transformers
`MusicgenMelodyForConditionalGeneration` driven by our `FastSampler`; only the token decoder differs
(the mel codec or EnCodec). Consecutive decodes overlap by a few frames and are cross-faded.

Sliding windows follow musicgen's `generate` extension: each window after the first keeps the last
(window - stride) frames of what came before as a forced prompt and generates `stride` new frames, with
the melody's chroma taken from the window's own start time (looped when the melody is shorter than the
requested duration, as musicgen tiles a short chroma). Cancellation is checked every 8 sampler steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from audio_render.chroma import CHROMA_FRAME_RATE_HZ, melody_chroma
from audio_render.melody.sampler import FastSampler, SamplingParams
from ostinato.errors import InvalidInput
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn, no_progress

TokenDecoder = Callable[[torch.Tensor], np.ndarray]  # (K, frames) -> mono float32 audio


@dataclass(frozen=True)
class MelodyRequest:
    """What to generate. None means the model's default."""

    text: str = ""
    duration_s: float = 10.0
    seed: int = 0
    guidance_scale: float | None = None
    temperature: float | None = None
    top_k: int | None = None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    source: str  # "embedded", "transformers" or "audiocraft-converted"
    sample_rate_hz: int
    frame_rate_hz: float
    window_s: float
    parameters: int


@dataclass
class AudioPiece:
    """Decoded audio in playback order; start_frame counts samples from the start of the output."""

    samples: np.ndarray
    start_frame: int
    last: bool
    window: int


@dataclass
class GenerationStats:
    compute_s: float = 0.0
    first_chunk_s: float = 0.0
    frames: int = 0
    windows: int = 0
    tokens: list = field(default_factory=list)


class MelodyModel:
    """A MusicGen-melody model (any source) with our sampler and a token decoder."""

    def __init__(
        self,
        model,
        tokenizer,
        decode_tokens: TokenDecoder,
        info: ModelInfo,
        window_frames: int,
        stride_frames: int,
        chroma_repeat: int,
        text_pad_to: int | None,
        defaults: SamplingParams,
        weights: str = "float32",
        codec=None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.decode_tokens = decode_tokens
        self.codec = codec  # the embedded model's MelCodec (None for EnCodec-based checkpoints)
        self.info = info
        self.window_frames = window_frames
        self.stride_frames = stride_frames
        self.chroma_repeat = chroma_repeat
        self.text_pad_to = text_pad_to
        self.defaults = defaults
        self.chroma_length = int(model.config.chroma_length)
        self.sampler = FastSampler(model.decoder, weights=weights)
        self.num_codebooks = self.sampler.num_codebooks
        self.samples_per_frame = round(info.sample_rate_hz / info.frame_rate_hz)

    # ------------------------------------------------------------------------------ conditioning
    def sampling(self, request: MelodyRequest) -> SamplingParams:
        return SamplingParams(
            guidance_scale=request.guidance_scale or self.defaults.guidance_scale,
            temperature=request.temperature or self.defaults.temperature,
            top_k=request.top_k or self.defaults.top_k,
            seed=request.seed,
        )

    def text_inputs(self, text: str) -> dict[str, torch.Tensor]:
        if self.text_pad_to:
            return self.tokenizer([text], padding="max_length", truncation=True, max_length=self.text_pad_to,
                                  return_tensors="pt")
        return self.tokenizer([text], padding=True, return_tensors="pt")

    def window_chroma(self, chroma: torch.Tensor, start_frame: int) -> torch.Tensor:
        """The (chroma_length, 12) one-hot melody for a window starting at token frame start_frame."""
        count = chroma.shape[0]
        if self.chroma_repeat > 1:
            tokens = start_frame + torch.arange(self.chroma_length)
            index = torch.div(tokens + self.chroma_repeat // 2, self.chroma_repeat, rounding_mode="floor")
        else:
            first = round(start_frame * CHROMA_FRAME_RATE_HZ / self.info.frame_rate_hz)
            index = first + torch.arange(self.chroma_length)
        return chroma[index % count]

    @torch.inference_mode()
    def prefix(self, text: str, chroma: torch.Tensor, guided: bool) -> torch.Tensor:
        """[chroma, text] conditioning hidden states, (2, P, D) with the unconditional row last if guided."""
        model = self.model
        inputs = self.text_inputs(text)
        text_hidden = model.text_encoder(**inputs).last_hidden_state
        if getattr(model, "enc_to_dec_proj", None) is not None:
            text_hidden = model.enc_to_dec_proj(text_hidden)
        mask = inputs["attention_mask"][..., None].to(text_hidden.dtype)
        features = chroma[None].to(text_hidden.dtype)
        if guided:
            null = torch.zeros_like(features)
            null[..., 0] = 1
            features = torch.cat([features, null])
            text_hidden = torch.cat([text_hidden, torch.zeros_like(text_hidden)])
            mask = torch.cat([mask, torch.zeros_like(mask)])
        text_hidden = text_hidden * mask
        audio_hidden = features
        if getattr(model, "audio_enc_to_dec_proj", None) is not None:
            audio_hidden = model.audio_enc_to_dec_proj(features)
        if audio_hidden.shape[1] < self.chroma_length:
            repeats = -(-self.chroma_length // audio_hidden.shape[1])
            audio_hidden = audio_hidden.repeat(1, repeats, 1)
        audio_hidden = audio_hidden[:, : self.chroma_length]
        return torch.cat([audio_hidden, text_hidden], dim=1)

    # ------------------------------------------------------------------------------ generation
    def output_samples(self, duration_s: float) -> int:
        """Exactly how many samples `generate` yields for this duration."""
        return max(1, round(duration_s * self.info.sample_rate_hz))

    def token_frames(self, duration_s: float) -> int:
        """Codec frames generated for this duration (the last one is trimmed to the exact length)."""
        return -(-self.output_samples(duration_s) // self.samples_per_frame)

    def generate(
        self,
        melody_audio: np.ndarray,
        melody_rate_hz: int,
        request: MelodyRequest,
        progress: ProgressFn = no_progress,
        cancel: CancelToken | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[AudioPiece]:
        """Yields decoded audio window by window (see module doc). `stats` is filled as it goes."""
        if not request.duration_s > 0:
            raise InvalidInput("duration_s must be positive")
        cancel = cancel or CancelToken()
        stats = stats if stats is not None else GenerationStats()
        started = time.perf_counter()
        chroma = melody_chroma(melody_audio, melody_rate_hz)
        params = self.sampling(request)
        guided = params.guidance_scale > 1
        total = self.token_frames(request.duration_s)
        wanted_samples = self.output_samples(request.duration_s)
        plan = self._windows(total)
        tokens = torch.empty(self.num_codebooks, 0, dtype=torch.long)
        emitted_frames, tail = 0, None
        for number, (start, end) in enumerate(plan):
            cancel.check()
            prompt = tokens[None, :, start:] if tokens.shape[1] > start else None
            prefix = self.prefix(request.text, self.window_chroma(chroma, start), guided)
            window_params = SamplingParams(params.guidance_scale, params.temperature, params.top_k,
                                           params.seed + number)
            last_window = number == len(plan) - 1
            for window_tokens, complete in self.sampler.stream(
                prefix, end - start, window_params, prompt=prompt, cancel=cancel, every=self.FIRST_CHUNK_FRAMES
            ):
                done = complete == end - start
                tokens = torch.cat([tokens[:, :start], window_tokens[0, :, :complete]], dim=1)
                progress(ProgressEvent(
                    "generate", 0.95 * (start + complete) / total,
                    f"window {number + 1} of {len(plan)}, frame {start + complete} of {total}",
                ))
                last = last_window and done
                # The first audio goes out after FIRST_CHUNK_FRAMES, later pieces every CHUNK_FRAMES.
                wanted = self.FIRST_CHUNK_FRAMES if emitted_frames == 0 else self.CHUNK_FRAMES
                if not last and tokens.shape[1] - emitted_frames < wanted + self._LOOKAHEAD_FRAMES:
                    continue
                piece, piece_start, emitted_frames, tail = self._decode(tokens, emitted_frames, tail, last)
                piece = piece[: max(0, wanted_samples - piece_start)]
                stats.windows, stats.frames = number + 1, tokens.shape[1]
                if piece.size:
                    if stats.first_chunk_s == 0.0:
                        stats.first_chunk_s = time.perf_counter() - started
                    yield AudioPiece(piece, start_frame=piece_start, last=last, window=number)
                stats.compute_s = time.perf_counter() - started
                cancel.check()
        stats.tokens = [tokens]
        stats.compute_s = time.perf_counter() - started
        progress(ProgressEvent("generate", 1.0, "done"))

    def _windows(self, total: int) -> list[tuple[int, int]]:
        plan, start = [(0, min(self.window_frames, total))], 0
        while plan[-1][1] < total:
            start += self.stride_frames
            plan.append((start, min(start + self.window_frames, total)))
        return plan

    # Overlapping decodes are cross-faded: a window's audio is final except for its last few frames,
    # which depend on frames not generated yet (the decoder's receptive field).
    FIRST_CHUNK_FRAMES = 16
    CHUNK_FRAMES = 64
    _LOOKAHEAD_FRAMES = 4
    _CONTEXT_FRAMES = 8
    _FADE_SAMPLES = 256

    def _decode(self, tokens: torch.Tensor, emitted_frames: int, tail, last: bool):
        hop = self.samples_per_frame
        begin = max(0, emitted_frames - self._CONTEXT_FRAMES)
        audio = self.decode_tokens(tokens[:, begin:])
        offset = begin * hop  # sample index of audio[0]
        stop_frame = tokens.shape[1] if last else max(emitted_frames, tokens.shape[1] - self._LOOKAHEAD_FRAMES)
        start_sample, stop_sample = emitted_frames * hop, stop_frame * hop
        piece = audio[start_sample - offset : stop_sample - offset].astype(np.float32, copy=True)
        if tail is not None and piece.size:
            fade = min(len(tail), piece.size)
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
            piece[:fade] = tail[:fade] * (1 - ramp) + piece[:fade] * ramp
        next_tail = audio[stop_sample - offset : stop_sample - offset + self._FADE_SAMPLES].copy()
        return piece, start_sample, stop_frame, (next_tail if next_tail.size else None)
