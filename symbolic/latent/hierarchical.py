"""A 16-bar melody/bass model with MusicVAE's hierarchical decoder, built on the shipped 2-bar model.

    z16 --conductor LSTM--> 8 piece latents --frozen 2-bar decoder--> 8 two-bar pieces --> 16 bars

As in MusicVAE's hierarchical model (Roberts et al. 2018, section 3.2), one latent describes the whole
16 bars and a conductor RNN turns it into one embedding per 2-bar section, each decoded by a lower-level
decoder. Here the lower level is the 2-bar MelodyVAE's decoder, kept frozen, and the conductor's outputs
are that decoder's own latents, so the 16-bar model only has to learn how pieces of a song go together.
The encoder is a bidirectional LSTM over the 8 pieces' posterior means from the frozen 2-bar encoder.

With `linear_paths` (the shipped model) a linear map from the 8 piece means to z16 sits beside the encoder
LSTM and one from z16 to the 8 piece latents beside the conductor LSTM, started as whitened PCA
(init_linear_paths). Without them the LSTMs had to learn the map from scratch and, after ~25 min of
training, gave piece latents 0.58 rms away from the pieces' own (24 posterior standard deviations), so
16-bar clips reconstructed at 0.31 against 0.91 by pieces; 512 linear components alone reach 0.90.

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
from symbolic.latent.model import CONFIG_NAME, read_weights, write_pretrained
from symbolic.latent.representation import MelodyClip
from symbolic.latent.space import CLIP_SHIFTS, Decoding, LatentSpace, _Pieces, split

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
    # A linear map from the 8 piece means to z16 beside the encoder LSTM, and one from z16 to the 8 piece
    # latents beside the conductor LSTM (see ConductorVAE.init_linear_paths). False: the LSTMs alone.
    linear_paths: bool = False

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
        if c.linear_paths:
            self.encoder_linear = nn.Linear(c.pieces * c.piece_latent_dim, c.latent_dim)
            self.conductor_linear = nn.Linear(c.latent_dim, c.pieces * c.piece_latent_dim)

    @torch.no_grad()
    def init_linear_paths(self, piece_means: np.ndarray, initial_scale: float = 0.1) -> float:
        """Starts the model as whitened PCA of the training sections' piece means (sections, pieces, dim).

        The frozen 2-bar decoder needs its latents to within a few hundredths (Gaussian noise of 0.1 per
        dimension costs 8 points of step accuracy), which the LSTMs alone did not reach in training (their
        piece latents were off by 0.58 rms); 512 principal components of the 8 x 256 piece means keep 99.5%
        of their variance on POP909, 768 keep 99.9%. z16 starts as the components divided by their spread
        (unit variance, as the prior), the conductor as the inverse map; the LSTM read-outs start at zero
        and learn what is not linear. Returns the share of variance kept.
        """
        c = self.config
        flat = np.asarray(piece_means, dtype=np.float64).reshape(len(piece_means), -1)
        center = flat.mean(axis=0)
        covariance = np.cov(flat - center, rowvar=False)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        order = np.argsort(eigenvalues)[::-1][:c.latent_dim]
        spread = np.sqrt(np.maximum(eigenvalues[order], 1e-8))
        components = eigenvectors[:, order]  # (pieces * dim, latent)
        to_z = (components / spread).T
        self.encoder_linear.weight.copy_(torch.from_numpy(to_z).float())
        self.encoder_linear.bias.copy_(torch.from_numpy(-to_z @ center).float())
        self.conductor_linear.weight.copy_(torch.from_numpy(components * spread).float())
        self.conductor_linear.bias.copy_(torch.from_numpy(center).float())
        for layer in (self.to_mean, self.output):
            layer.weight.zero_()
            layer.bias.zero_()
        self.to_scale.weight.zero_()
        self.to_scale.bias.fill_(float(np.log(np.expm1(initial_scale))))
        return float(eigenvalues[order].sum() / eigenvalues.sum())

    def encode(self, piece_means: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and scale of q(z16 | x) from piece means (B, pieces, piece_latent_dim)."""
        _, (hidden, _) = self.encoder(piece_means)
        final = torch.cat([hidden[-2], hidden[-1]], dim=-1)
        mean = self.to_mean(final)
        if self.config.linear_paths:
            mean = mean + self.encoder_linear(piece_means.flatten(1))
        return mean, nn.functional.softplus(self.to_scale(final)) + 1e-4

    def conduct(self, z: torch.Tensor) -> torch.Tensor:
        """Piece latents (B, pieces, piece_latent_dim) for z16 (B, latent_dim)."""
        c = self.config
        state = torch.tanh(self.to_initial_state(z)).view(z.shape[0], 2, c.conductor_hidden)
        initial = state[:, 0].unsqueeze(0).contiguous(), state[:, 1].unsqueeze(0).contiguous()
        positions = self.position(torch.arange(c.pieces)).unsqueeze(0).expand(z.shape[0], -1, -1)
        inputs = torch.cat([z.unsqueeze(1).expand(-1, c.pieces, -1), positions], dim=-1)
        outputs, _ = self.conductor(inputs, initial)
        pieces = self.output(outputs)
        if c.linear_paths:
            pieces = pieces + self.conductor_linear(z).view(z.shape[0], c.pieces, c.piece_latent_dim)
        return pieces

    def save_pretrained(self, directory: Path, extra: dict | None = None) -> None:
        """Writes config.json and float16 weights (model.safetensors) to directory. float16 costs the linear
        paths nothing measurable (held-out greedy step accuracy 0.9424 in float32, 0.9425 in float16)."""
        write_pretrained(directory, asdict(self.config), self.state_dict(), extra)

    @classmethod
    def from_pretrained(cls, directory: Path | None = None) -> "ConductorVAE":
        directory = Path(directory) if directory is not None else PRETRAINED_DIR
        if not (directory / CONFIG_NAME).exists():
            raise MissingAsset(f"no 16-bar latent model in {directory}: train one with "
                               "`python -m symbolic.latent.train_hierarchical` or restore symbolic/pretrained/latent16/")
        model = cls(HierarchicalConfig.from_json(directory / CONFIG_NAME))
        model.load_state_dict(read_weights(directory))
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
