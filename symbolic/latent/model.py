"""A small MusicVAE: bidirectional LSTM encoder, autoregressive LSTM decoder, Gaussian latent.

Follows MusicVAE's flat 2-bar melody model (Roberts et al. 2018) at a size that trains on one CPU core:
the encoder reads the whole grid both ways and maps its final states to the mean and scale of q(z|x); the
decoder's initial state comes from z, and z is also fed at every step next to the previous token, as in
MusicVAE. Unlike MusicVAE the clip length is not fixed: every step also carries metric features (see
representation.metric_features), so one model reads 2-4 bars of 2/4, 3/4, 4/4, 6/8, ...
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from symbolic.latent.representation import METRIC_FEATURES, NUM_CLASSES

START_TOKEN = NUM_CLASSES  # the melody model's decoder input before the first step (num_classes in general)
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class LatentConfig:
    """Architecture of the latent model; saved as config.json beside the weights."""

    latent_dim: int = 256
    embedding_dim: int = 64
    encoder_hidden: int = 256
    decoder_hidden: int = 256
    decoder_layers: int = 2
    metric_features: int = METRIC_FEATURES
    num_classes: int = NUM_CLASSES

    @classmethod
    def from_json(cls, path: Path) -> "LatentConfig":
        data = json.loads(Path(path).read_text())
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class MelodyVAE(nn.Module):
    """The VAE over one token per grid step; num_classes sets the vocabulary (130 melody classes, 512 drum
    combinations), and the decoder's first input is the extra class num_classes."""

    def __init__(self, config: LatentConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.num_classes + 1, c.embedding_dim)
        self.encoder = nn.LSTM(c.embedding_dim + c.metric_features, c.encoder_hidden,
                               batch_first=True, bidirectional=True)
        self.to_mean = nn.Linear(2 * c.encoder_hidden, c.latent_dim)
        self.to_scale = nn.Linear(2 * c.encoder_hidden, c.latent_dim)
        self.to_initial_state = nn.Linear(c.latent_dim, 2 * c.decoder_layers * c.decoder_hidden)
        self.decoder = nn.LSTM(c.embedding_dim + c.metric_features + c.latent_dim, c.decoder_hidden,
                               num_layers=c.decoder_layers, batch_first=True)
        self.output = nn.Linear(c.decoder_hidden, c.num_classes)

    def encode(self, tokens: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and scale of q(z|x). tokens (B, T) int64, features (B, T, F)."""
        inputs = torch.cat([self.embedding(tokens), features], dim=-1)
        _, (hidden, _) = self.encoder(inputs)
        final = torch.cat([hidden[-2], hidden[-1]], dim=-1)
        return self.to_mean(final), nn.functional.softplus(self.to_scale(final)) + 1e-4

    def _initial_state(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        state = torch.tanh(self.to_initial_state(z))
        state = state.view(z.shape[0], 2, c.decoder_layers, c.decoder_hidden).permute(1, 2, 0, 3)
        return state[0].contiguous(), state[1].contiguous()

    def teacher_forced_logits(self, z: torch.Tensor, tokens: torch.Tensor,
                              features: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, classes) for every step given the true previous tokens."""
        previous = torch.cat([torch.full_like(tokens[:, :1], self.config.num_classes), tokens[:, :-1]], dim=1)
        steps = tokens.shape[1]
        inputs = torch.cat([self.embedding(previous), features,
                            z.unsqueeze(1).expand(-1, steps, -1)], dim=-1)
        outputs, _ = self.decoder(inputs, self._initial_state(z))
        return self.output(outputs)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, features: torch.Tensor, temperature: float = 0.0,
               top_k: int = 0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Free-running decode: tokens (B, T). temperature 0 takes the argmax at every step."""
        batch, steps = z.shape[0], features.shape[1]
        state = self._initial_state(z)
        previous = torch.full((batch,), self.config.num_classes, dtype=torch.long)
        result = torch.empty((batch, steps), dtype=torch.long)
        for step in range(steps):
            inputs = torch.cat([self.embedding(previous), features[:, step], z], dim=-1).unsqueeze(1)
            output, state = self.decoder(inputs, state)
            logits = self.output(output[:, 0])
            if temperature <= 0:
                previous = logits.argmax(dim=-1)
            else:
                logits = logits / temperature
                if top_k > 0:
                    threshold = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
                    logits = logits.masked_fill(logits < threshold, float("-inf"))
                previous = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)[:, 0]
            result[:, step] = previous
        return result

    def save_pretrained(self, directory: Path, extra: dict | None = None) -> None:
        """Writes config.json and float16 weights (model.safetensors) to directory."""
        write_pretrained(directory, asdict(self.config), self.state_dict(), extra)

    @classmethod
    def from_pretrained(cls, directory: Path) -> "MelodyVAE":
        model = cls(LatentConfig.from_json(Path(directory) / CONFIG_NAME))
        model.load_state_dict(read_weights(directory))
        model.eval()
        return model


def write_pretrained(directory: Path, config: dict, state: dict[str, torch.Tensor], extra: dict | None = None,
                     float32: tuple[str, ...] = ()) -> None:
    """config.json (with the training figures under "training") and the weights as float16 safetensors
    (those named in float32 kept at full precision) in directory."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = dict(config)
    if extra:
        config["training"] = extra
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    weights = {k: v.detach().to(torch.float32 if k in float32 else torch.float16).contiguous() for k, v in state.items()}
    save_file(weights, str(directory / WEIGHTS_NAME))


def read_weights(directory: Path) -> dict[str, torch.Tensor]:
    """The weights of a model directory, as float32."""
    from safetensors.torch import load_file

    return {k: v.to(torch.float32) for k, v in load_file(str(Path(directory) / WEIGHTS_NAME)).items()}


def features_tensor(features: np.ndarray, batch: int) -> torch.Tensor:
    return torch.from_numpy(features).unsqueeze(0).expand(batch, -1, -1)
