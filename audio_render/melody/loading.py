"""Loads a melody model from a local directory, whichever layout it is in. Nothing is downloaded.

- embedded: our own (config.json with "kind": "ostinato-melody"), see `embedded.py`;
- transformers: a `MusicgenMelodyForConditionalGeneration.save_pretrained` directory (config.json with
  "model_type": "musicgen_melody", weights, tokenizer files), as the published checkpoints ship;
- audiocraft: state_dict.bin + compression_state_dict.bin (as audiocraft exports fine-tunes), converted
  in memory by `audiocraft_convert` without importing audiocraft. Its T5 text encoder is not part of that
  layout: put a transformers-layout T5 encoder (weights + tokenizer) in a `t5/` subdirectory.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from audio_render.melody.model import MelodyModel, ModelInfo
from audio_render.melody.sampler import SamplingParams
from ostinato.errors import MissingAsset

def soft_limit(audio: np.ndarray, knee: float = 0.9) -> np.ndarray:
    """Identity below `knee`, then a tanh curve that approaches 1.0: no clipping, no state (streamable)."""
    magnitude = np.abs(audio)
    over = magnitude > knee
    if np.any(over):
        audio = audio.copy()
        headroom = 1.0 - knee
        audio[over] = np.sign(audio[over]) * (knee + headroom * np.tanh((magnitude[over] - knee) / headroom))
    return audio.astype(np.float32, copy=False)


# musicgen's own extension stride: 30 s windows advanced by 18 s.
PUBLISHED_STRIDE_FRACTION = 18.0 / 30.0


def detect_layout(directory: Path) -> str:
    from audio_render.melody.embedded import is_embedded_dir

    if is_embedded_dir(directory):
        return "embedded"
    if (directory / "state_dict.bin").is_file() and (directory / "compression_state_dict.bin").is_file():
        return "audiocraft"
    config = directory / "config.json"
    if config.is_file():
        try:
            model_type = json.loads(config.read_text()).get("model_type")
        except json.JSONDecodeError:
            model_type = None
        if model_type == "musicgen_melody":
            return "transformers"
    raise MissingAsset(
        f"{directory} holds no melody model: expected an Ostinato embedded model, a transformers "
        "musicgen-melody directory (config.json + weights) or an audiocraft one (state_dict.bin + "
        "compression_state_dict.bin)"
    )


def load_melody_model(directory: str | Path, threads: int | None = None, weights: str | None = None) -> MelodyModel:
    """A ready MelodyModel from `directory` (any supported layout).

    Args:
        threads: torch threads for this process (None leaves the setting alone).
        weights: our sampler's weight format, "float32" (exact), "bfloat16" or "int8"; None means the
            embedded model's configured format, float32 for published checkpoints.
    """
    from audio_render.melody.text import offline

    offline()
    if threads:
        torch.set_num_threads(threads)
    directory = Path(directory)
    if not directory.is_dir():
        raise MissingAsset(f"melody model directory {directory} does not exist")
    layout = detect_layout(directory)
    if layout == "embedded":
        return _embedded(directory, weights)
    if layout == "transformers":
        from transformers import AutoTokenizer, MusicgenMelodyForConditionalGeneration

        model = MusicgenMelodyForConditionalGeneration.from_pretrained(directory, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        return published(model, tokenizer, name=directory.name, source="transformers", weights=weights or "float32")
    from audio_render.melody.audiocraft_convert import load_audiocraft

    model, tokenizer = load_audiocraft(directory)
    return published(model, tokenizer, name=directory.name, source="audiocraft-converted", weights=weights or "float32")


def _embedded(directory: Path, weights: str | None) -> MelodyModel:
    from audio_render.melody.embedded import load_embedded

    model, config, codec, tokenizer = load_embedded(directory)
    info = ModelInfo(
        name=config.name,
        source="embedded",
        sample_rate_hz=codec.sample_rate_hz,
        frame_rate_hz=codec.frame_rate_hz,
        window_s=config.window_frames / codec.frame_rate_hz,
        parameters=sum(p.numel() for p in model.decoder.parameters())
        + sum(p.numel() for name in ("enc_to_dec_proj", "audio_enc_to_dec_proj") for p in getattr(model, name).parameters()),
    )
    gain = float(config.output_gain)

    def decode(tokens: torch.Tensor) -> np.ndarray:
        return soft_limit(codec.decode(tokens) * gain)

    return MelodyModel(
        model, tokenizer, decode, info,
        window_frames=config.window_frames,
        stride_frames=config.stride_frames,
        chroma_repeat=config.chroma_repeat,
        text_pad_to=config.text_max_tokens,
        defaults=SamplingParams(config.guidance_scale, config.temperature, config.top_k),
        weights=weights or config.sampler_weights,
        codec=codec,
    )


def published(model, tokenizer, name: str, source: str, weights: str = "float32") -> MelodyModel:
    """Wraps a MusicgenMelodyForConditionalGeneration whose tokens an EnCodec decodes."""
    model = model.eval()
    codec = model.audio_encoder
    frame_rate = float(codec.config.frame_rate)
    window_frames = int(model.generation_config.max_length or round(30 * frame_rate)) - model.decoder.num_codebooks
    window_frames = max(window_frames, 1)
    stride_frames = max(1, round(window_frames * PUBLISHED_STRIDE_FRACTION))

    @torch.inference_mode()
    def decode(tokens: torch.Tensor):
        audio = codec.decode(tokens[None, None], [None]).audio_values
        return audio[0].mean(0).float().numpy()

    generation = model.generation_config
    info = ModelInfo(
        name=name,
        source=source,
        sample_rate_hz=int(codec.config.sampling_rate),
        frame_rate_hz=frame_rate,
        window_s=window_frames / frame_rate,
        parameters=sum(p.numel() for p in model.parameters()),
    )
    return MelodyModel(
        model, tokenizer, decode, info,
        window_frames=window_frames,
        stride_frames=stride_frames,
        chroma_repeat=1,
        text_pad_to=None,
        defaults=SamplingParams(
            guidance_scale=float(generation.guidance_scale or 3.0),
            temperature=float(generation.temperature or 1.0),
            top_k=int(generation.top_k or 250),
        ),
        weights=weights,
    )
