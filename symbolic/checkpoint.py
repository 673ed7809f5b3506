"""A MusicTransformer checkpoint on disk, read without torch.

A checkpoint directory holds `config.json` (the model's shape under "model", the Composer's facts about
its training data under "meta") and `model.safetensors` (the weights, by the names of the torch model's
state dict). Training writes it with `MusicTransformer.save_pretrained`; serving reads it here, straight
into numpy arrays for symbolic.stepper, so a process that only generates never imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ostinato.errors import MissingAsset

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
LAYER_NORM_EPS = 1e-5  # torch's default, which every LayerNorm of the model uses


@dataclass
class TransformerConfig:
    vocab_size: int
    d_model: int = 192
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 768
    max_seq_len: int = 768
    dropout: float = 0.1

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


def check_files(directory: Path) -> Path:
    directory = Path(directory)
    if not (directory / CONFIG_FILE).exists() or not (directory / WEIGHTS_FILE).exists():
        raise MissingAsset(f"no symbolic model in {directory} (expected {CONFIG_FILE} and {WEIGHTS_FILE})")
    return directory


def read_config(directory: Path) -> tuple[TransformerConfig, dict]:
    """(the model's shape, the meta dict) of a checkpoint directory."""
    payload = json.loads((check_files(directory) / CONFIG_FILE).read_text())
    return TransformerConfig(**payload["model"]), payload.get("meta", {})


def parameter_shapes(config: TransformerConfig) -> dict[str, tuple[int, ...]]:
    """Every parameter of the model by its state-dict name, with its shape."""
    width, hidden = config.d_model, config.d_ff
    shapes: dict[str, tuple[int, ...]] = {
        "embed.weight": (config.vocab_size, width), "position.weight": (config.max_seq_len, width),
        "norm.weight": (width,), "norm.bias": (width,)}
    for layer in range(config.n_layers):
        for name, shape in (("norm1.weight", (width,)), ("norm1.bias", (width,)),
                            ("qkv.weight", (3 * width, width)), ("qkv.bias", (3 * width,)),
                            ("out.weight", (width, width)), ("out.bias", (width,)),
                            ("norm2.weight", (width,)), ("norm2.bias", (width,)),
                            ("ff1.weight", (hidden, width)), ("ff1.bias", (hidden,)),
                            ("ff2.weight", (width, hidden)), ("ff2.bias", (width,))):
            shapes[f"blocks.{layer}.{name}"] = shape
    return shapes


@dataclass
class TransformerWeights:
    """A model's config and its float32 weights by state-dict name: all that decoding needs."""

    config: TransformerConfig
    arrays: dict[str, np.ndarray]
    meta: dict

    def __post_init__(self) -> None:
        expected = parameter_shapes(self.config)
        missing = sorted(set(expected) - set(self.arrays))
        unexpected = sorted(set(self.arrays) - set(expected))
        if missing or unexpected:
            raise ValueError(f"the weights do not fit the config: missing {missing[:3]}, unexpected {unexpected[:3]}")
        for name, shape in expected.items():
            if tuple(self.arrays[name].shape) != shape:
                raise ValueError(f"{name} has shape {tuple(self.arrays[name].shape)}, the config says {shape}")

    @classmethod
    def from_pretrained(cls, directory: Path) -> "TransformerWeights":
        """Reads a checkpoint (MissingAsset when its files are absent; ValueError when they do not fit)."""
        from safetensors.numpy import load_file

        config, meta = read_config(directory)
        arrays = {name: np.asarray(array, dtype=np.float32)
                  for name, array in load_file(str(Path(directory) / WEIGHTS_FILE)).items()}
        return cls(config, arrays, meta)

    @classmethod
    def of_module(cls, model) -> "TransformerWeights":  # type: ignore[no-untyped-def]
        """The weights of a torch MusicTransformer (the same arrays its checkpoint file would hold)."""
        arrays = {name: tensor.detach().float().numpy() for name, tensor in model.state_dict().items()}
        return cls(model.config, arrays, {})


__all__ = ["CONFIG_FILE", "LAYER_NORM_EPS", "WEIGHTS_FILE", "TransformerConfig", "TransformerWeights",
           "check_files", "parameter_shapes", "read_config"]
