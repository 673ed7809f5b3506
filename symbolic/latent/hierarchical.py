"""A 16-bar melody/bass model with MusicVAE's hierarchical decoder, built on the shipped 2-bar model.

    z16 --conductor LSTM--> 8 piece latents --frozen 2-bar decoder--> 8 two-bar pieces --> 16 bars

As in MusicVAE's hierarchical model (Roberts et al. 2018, section 3.2), one latent describes the whole
16 bars and a conductor RNN turns it into one embedding per 2-bar section, each decoded by a lower-level
decoder. Here the lower level is the 2-bar MelodyVAE's decoder, kept frozen, and the conductor's outputs
are that decoder's own latents, so the 16-bar model only has to learn how pieces of a song go together.
The encoder is a bidirectional LSTM over the 8 pieces' posterior means from the frozen 2-bar encoder.

Clips longer than 16 bars are read 16 bars at a time (one z16 per 16-bar section); the model reads only
whole 16-bar sections (see families.py for how a request picks it). Training: train_hierarchical.py.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ostinato.errors import InvalidInput, MissingAsset
from symbolic.latent.representation import MelodyClip
from symbolic.latent.space import CLIP_SHIFTS, Decoding, LatentSpace, _Pieces, split

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "latent16"


@dataclass
class HierarchicalConfig:
    """Architecture of the 16-bar model; saved as config.json beside the weights."""

    latent_dim: int = 512
    piece_latent_dim: int = 256  # the 2-bar model's latent_dim
    pieces: int = 8  # 2-bar pieces per section: 16 bars
    piece_bars: int = 2
    encoder_hidden: int = 256
    conductor_hidden: int = 512

    @property
    def section_bars(self) -> int:
        return self.pieces * self.piece_bars

    @classmethod
    def from_json(cls, path: Path) -> "HierarchicalConfig":
        data = json.loads(Path(path).read_text())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class ConductorVAE(nn.Module):
    """q(z16 | piece means) and the conductor p(piece latents | z16)."""

    def __init__(self, config: HierarchicalConfig) -> None:
        super().__init__()
        self.config = c = config
        self.encoder = nn.LSTM(c.piece_latent_dim, c.encoder_hidden, batch_first=True, bidirectional=True)
        self.to_mean = nn.Linear(2 * c.encoder_hidden, c.latent_dim)
        self.to_scale = nn.Linear(2 * c.encoder_hidden, c.latent_dim)
        self.to_initial_state = nn.Linear(c.latent_dim, 2 * c.conductor_hidden)
        self.position = nn.Embedding(c.pieces, 32)
        self.conductor = nn.LSTM(c.latent_dim + 32, c.conductor_hidden, batch_first=True)
        self.output = nn.Linear(c.conductor_hidden, c.piece_latent_dim)

    def encode(self, piece_means: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and scale of q(z16 | x) from piece means (B, pieces, piece_latent_dim)."""
        _, (hidden, _) = self.encoder(piece_means)
        final = torch.cat([hidden[-2], hidden[-1]], dim=-1)
        return self.to_mean(final), nn.functional.softplus(self.to_scale(final)) + 1e-4

    def conduct(self, z: torch.Tensor) -> torch.Tensor:
        """Piece latents (B, pieces, piece_latent_dim) for z16 (B, latent_dim)."""
        c = self.config
        state = torch.tanh(self.to_initial_state(z)).view(z.shape[0], 2, c.conductor_hidden)
        initial = state[:, 0].unsqueeze(0).contiguous(), state[:, 1].unsqueeze(0).contiguous()
        positions = self.position(torch.arange(c.pieces)).unsqueeze(0).expand(z.shape[0], -1, -1)
        inputs = torch.cat([z.unsqueeze(1).expand(-1, c.pieces, -1), positions], dim=-1)
        outputs, _ = self.conductor(inputs, initial)
        return self.output(outputs)

    def save_pretrained(self, directory: Path, extra: dict | None = None) -> None:
        """Writes config.json and float16 weights (model.safetensors) to directory."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = asdict(self.config)
        if extra:
            config["training"] = extra
        (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        weights = {k: v.detach().to(torch.float16).contiguous() for k, v in self.state_dict().items()}
        save_file(weights, str(directory / WEIGHTS_NAME))

    @classmethod
    def from_pretrained(cls, directory: Path | None = None) -> "ConductorVAE":
        from safetensors.torch import load_file

        directory = Path(directory) if directory is not None else PRETRAINED_DIR
        if not (directory / CONFIG_NAME).exists():
            raise MissingAsset(f"no 16-bar latent model in {directory}: train one with "
                               "`python -m symbolic.latent.train_hierarchical` or restore symbolic/pretrained/latent16/")
        model = cls(HierarchicalConfig.from_json(directory / CONFIG_NAME))
        weights = {k: v.to(torch.float32) for k, v in load_file(str(directory / WEIGHTS_NAME)).items()}
        model.load_state_dict(weights)
        model.eval()
        return model


def piece_latents(model: ConductorVAE, z: np.ndarray) -> np.ndarray:
    """The conductor's piece latents for rows of z16: (rows * pieces, piece_latent_dim)."""
    with torch.no_grad():
        pieces = model.conduct(torch.from_numpy(np.asarray(z, dtype=np.float32)))
    return pieces.reshape(-1, model.config.piece_latent_dim).numpy()


def section_latents(model: ConductorVAE, piece_means: np.ndarray) -> np.ndarray:
    """z16 (posterior means) for rows of piece means (sections, pieces, piece_latent_dim)."""
    with torch.no_grad():
        mean, _ = model.encode(torch.from_numpy(np.asarray(piece_means, dtype=np.float32)))
    return mean.numpy()


class SectionSpace(LatentSpace):
    """LatentSpace's reconstruct, vary and interpolate with one z16 per 16-bar section.

    A clip must last a whole number of 16-bar sections (InvalidInput otherwise). Density shifts are
    latent vectors of the 2-bar space and are not offered here (InvalidInput); the register and range
    shifts edit the clip before it is encoded, as in LatentSpace.
    """

    def __init__(self, base: LatentSpace, conductor: ConductorVAE) -> None:
        super().__init__(base.model, {})
        self.base = base
        self.conductor = conductor.eval()
        self.section_bars = conductor.config.section_bars

    @classmethod
    def from_pretrained(cls, directory: Path | None = None, base: LatentSpace | None = None) -> "SectionSpace":
        """The 16-bar model of directory (default symbolic/pretrained/latent16) over `base` (default: the
        shipped 2-bar space)."""
        conductor = ConductorVAE.from_pretrained(directory)
        return cls(base if base is not None else LatentSpace.from_pretrained(), conductor)

    def reads(self, clip: MelodyClip) -> bool:
        """Whether the clip lasts a whole number of sections."""
        return clip.num_bars >= self.section_bars and clip.num_bars % self.section_bars == 0

    def _split(self, clip: MelodyClip) -> _Pieces:
        if not self.reads(clip):
            raise InvalidInput(f"the 16-bar model reads clips of 16, 32, 48 or 64 bars; this one has "
                               f"{clip.num_bars}: use the 2-bar model (family melody or bass)")
        spb = clip.time_signature.steps_per_bar
        length = self.section_bars * spb
        sections = [replace(clip, tokens=clip.tokens[s:s + length]) for s in range(0, clip.num_steps, length)]
        return _Pieces(sections, [length] * len(sections))

    def encode(self, clips: list[MelodyClip]) -> np.ndarray:
        """z16 posterior means, one row per 16-bar clip."""
        pieces = [piece for clip in clips for piece in split(clip).pieces]
        means = self.base.encode(pieces).reshape(len(clips), self.conductor.config.pieces, -1)
        return section_latents(self.conductor, means)

    def _decode_pieces(self, latents: np.ndarray, layout: _Pieces, like: MelodyClip,
                       decoding: Decoding) -> list[MelodyClip]:
        """Rows of len(layout.pieces) z16 each -> whole clips, through the conductor and the 2-bar decoder."""
        pieces = piece_latents(self.conductor, latents)
        piece_like = split(layout.pieces[0]).pieces[0]
        decoded = self.base.decode(pieces, piece_like, decoding)
        per_clip = len(layout.pieces) * self.conductor.config.pieces
        return [replace(like, tokens=np.concatenate([c.tokens for c in decoded[i:i + per_clip]]))
                for i in range(0, len(decoded), per_clip)]

    def _check_shifts(self, shifts: dict[str, float]) -> dict[str, float]:
        checked = self.base._check_shifts(shifts)
        latent_shifts = [name for name, amount in checked.items() if amount and name not in CLIP_SHIFTS]
        if latent_shifts:
            raise InvalidInput(f"the 16-bar model has no attribute vector for {', '.join(latent_shifts)}: "
                               f"it offers {', '.join(CLIP_SHIFTS)}; use the 2-bar model (family melody) "
                               "for density shifts")
        return checked
