"""The accompaniment network: a bidirectional transformer over the codec's frame grid.

Per frame it hears the input's codec tokens (K residual codebooks, embeddings summed), the input's
chroma, the frame's beat phase and position in the bar (JukeDrummer's beat/downbeat conditioning) and
which part to write. It writes the part's K codes for every frame at once (non-autoregressive in time);
inside a frame the K residual codes are chosen coarse to fine, each head seeing the codes chosen
before it (teacher-forced in training), so a frame's codes fit together.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn


CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def write_net(directory: str | Path, config_json: str, net: nn.Module) -> Path:
    """A network's config.json and its weights (model.safetensors) in directory (made if missing)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_NAME).write_text(config_json)
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(directory / WEIGHTS_NAME))
    return directory

PARTS = ("drums", "backing")


@dataclass(frozen=True)
class AccompanistConfig:
    """Describes the network completely; saved beside its weights as config.json."""

    num_codebooks: int = 4
    codebook_size: int = 512
    chroma_bins: int = 12
    phase_bins: int = 16
    bar_positions: int = 8
    d_model: int = 192
    num_layers: int = 4
    num_heads: int = 4
    ff_dim: int = 768
    dropout: float = 0.1
    window_frames: int = 256
    context_frames: int = 32
    default_temperature: float = 0.0
    # Drums' own default temperature (None: default_temperature). With the training drums' even
    # velocities the likeliest code of each frame averaged over the grooves the input cannot tell apart and
    # hit every eighth alike (see drum_diagnose), so sampling at 1 did better; since the training drums
    # carry an accent on the beat (prepare --offbeat-level) lower temperatures do better again.
    drums_temperature: float | None = None
    # Drums: classifier-free-guidance-style beat conditioning strength (network.sample). Chosen on held-out
    # clips 30-49 (the published evaluation uses 0-29), librosa's beats in the drums vs the annotated beats.
    # Model before the accent: at temperature 0, 0.53 (1) -> 0.61 (3); at temperature 1, 0.59 (1) -> 0.71
    # (3) -> 0.78 (5) -> 0.74 (8). Shipped model (accented training drums): guidance 5 at temperature 1 /
    # 0.6 / 0.3 / 0: 0.79 / 0.84 / 0.84 / 0.85; at temperature 0.5, guidance 3 / 8: 0.84 / 0.83. All
    # within the noise of 20 clips; guidance 3 at 0.5 follows FluidR3 click tracks best (F 0.66; guidance 5:
    # 0.62 / 0.49 / 0.51 / 0.30 at the four temperatures above): the shipped config.json holds it.
    beat_guidance: float = 1.0
    frame_rate_hz: float = 31.25
    sample_rate_hz: int = 16_000
    kind: str = "ostinato-accompanist"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "AccompanistConfig":
        data = json.loads(text)
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})


class AccompanistNet(nn.Module):
    def __init__(self, config: AccompanistConfig) -> None:
        super().__init__()
        self.config = config
        width, vocab = config.d_model, config.codebook_size
        self.input_embeddings = nn.ModuleList(nn.Embedding(vocab, width) for _ in range(config.num_codebooks))
        self.chroma_projection = nn.Linear(config.chroma_bins, width)
        self.phase_embedding = nn.Embedding(config.phase_bins + 1, width)
        self.bar_embedding = nn.Embedding(config.bar_positions + 1, width)
        self.part_embedding = nn.Embedding(len(PARTS), width)
        self.position_embedding = nn.Embedding(config.window_frames, width)
        layer = nn.TransformerEncoderLayer(
            width, config.num_heads, config.ff_dim, config.dropout, activation="gelu", batch_first=True, norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.code_embeddings = nn.ModuleList(nn.Embedding(vocab, width) for _ in range(config.num_codebooks - 1))
        self.heads = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Linear(width, vocab))
            for _ in range(config.num_codebooks)
        )

    def hidden(self, tokens: torch.Tensor, chroma: torch.Tensor, phase: torch.Tensor, bar: torch.Tensor,
               part: torch.Tensor) -> torch.Tensor:
        """tokens (B, K, T) int, chroma (B, T, 12), phase/bar (B, T) int, part (B,) int -> (B, T, D)."""
        frames = tokens.shape[-1]
        x = sum(embedding(tokens[:, k]) for k, embedding in enumerate(self.input_embeddings))
        x = x + self.chroma_projection(chroma) + self.phase_embedding(phase) + self.bar_embedding(bar)
        x = x + self.part_embedding(part)[:, None] + self.position_embedding.weight[:frames][None]
        return self.norm(self.encoder(x))

    def logits(self, hidden: torch.Tensor, codes: torch.Tensor) -> list[torch.Tensor]:
        """Teacher-forced logits of every codebook: codes (B, K, T) are the target's own codes."""
        out = []
        state = hidden
        for k, head in enumerate(self.heads):
            if k:
                state = state + self.code_embeddings[k - 1](codes[:, k - 1])
            out.append(head(state))
        return out

    @torch.no_grad()
    def sample(self, hidden: torch.Tensor, temperature: float, generator: torch.Generator | None,
               unconditioned: torch.Tensor | None = None, guidance: float = 0.0) -> torch.Tensor:
        """Codes (B, K, T), coarse to fine; temperature 0 takes the most likely code.

        With `unconditioned` (the hidden states of the same input heard without its beats) and guidance
        w > 0, each head's logits are pushed away from the beatless ones: l + w * (l - l_beatless), a
        stronger beat conditioning (classifier-free-guidance style)."""
        codes = []
        state, free = hidden, unconditioned
        for k, head in enumerate(self.heads):
            if k:
                state = state + self.code_embeddings[k - 1](codes[-1])
                if free is not None:
                    free = free + self.code_embeddings[k - 1](codes[-1])
            logits = head(state)
            if free is not None and guidance > 0:
                logits = logits + guidance * (logits - head(free))
            if temperature <= 0:
                codes.append(logits.argmax(-1))
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
                codes.append(flat.reshape(probs.shape[:-1]))
        return torch.stack(codes, dim=1)
