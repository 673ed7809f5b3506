"""The trio latent space (melody + bass + drums under one latent, MusicVAE's trio family).

    from symbolic.latent.trio import TrioSpace
    from symbolic.latent.trio_representation import read_trio, trio_to_midi
    space = TrioSpace.from_pretrained()       # symbolic/pretrained/latent_trio/ + the line and drum models
    read = read_trio(midi_bytes)              # TrioClip + Notices (InvalidInput without melody, bass, drums)
    blend = space.interpolate(read.clip, other.clip, steps=8)
    files = [trio_to_midi(clip) for clip in blend]   # tracks melody, bass, drums (channel 10)

Design: a joint VAE over the frozen part models' latents. Each 2-bar piece of a trio is encoded by the
part models (the shipped line model for the melody and the bass, the drum model for the drums); the
three posterior means (256 + 256 + 192 numbers) go through the trio encoder (an MLP) to one trio latent;
the trio decoder (an MLP) maps a trio latent back to three part latents, which the frozen part decoders
turn into notes. Why this and not MusicVAE's flat trio model (three decoders over a fresh 512-d latent
trained end to end): the part models already reconstruct their parts well (pop melody 0.91, bass 0.98,
held-out), a flat trio model would have to relearn that from scratch on one CPU core in well under an
hour, while the joint VAE trains in minutes and only has to learn how the parts go together. The shipped
model was trained on the part means only (squared error, weighted per dimension by what the part posterior
carries, + KL; 9 + 10 minutes); a fine-tune through the frozen decoders teacher-forced (train_trio.py's
"tokens" phase) lowered the held-out accuracy in the time tried and was not kept. The cost of the design:
a melody comes back less exactly through the trio than through the line model alone (held-out figures in
symbolic/pretrained/latent_trio/evaluation_families.json).

Methods and arguments are LatentSpace's (encode, decode, reconstruct, vary, interpolate); clips of any
length are read in 2-bar pieces, one trio latent each, like LatentSpace, with rests (and silent drum
bars) padding an odd last bar. Every clip keeps the input's meter, tempo and the melody's and bass's
programs; variations keep each part's register (space.keep_register); interpolation endpoints are the
reconstructions of the inputs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ostinato.errors import InvalidInput, LimitExceeded, MissingAsset
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn, no_progress
from symbolic.latent.drum_representation import DrumClip
from symbolic.latent.drum_space import PRETRAINED_DRUMS_DIR, DrumSpace
from symbolic.latent.model import CONFIG_NAME, read_weights, write_pretrained
from symbolic.latent.space import (MAX_STEPS, MAX_VARIATIONS, PIECE_BARS, PRETRAINED_DIR, Decoding, LatentSpace, _Pieces,
                                   check_decoding, check_vary, join, keep_register, redraw_variations, slerp, split)
from symbolic.latent.trio_representation import TrioClip

PRETRAINED_TRIO_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "latent_trio"


@dataclass
class TrioConfig:
    part_dims: list[int] = field(default_factory=lambda: [256, 256, 192])  # melody, bass, drums latents
    latent_dim: int = 512
    hidden: int = 768

    @classmethod
    def from_json(cls, path: Path) -> "TrioConfig":
        data = json.loads(Path(path).read_text())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class TrioVAE(nn.Module):
    """MLP VAE over the concatenated part latents, normalised per dimension by center and spread."""

    def __init__(self, config: TrioConfig) -> None:
        super().__init__()
        self.config = config
        total, hidden = sum(config.part_dims), config.hidden
        self.register_buffer("center", torch.zeros(total))
        self.register_buffer("spread", torch.ones(total))
        self.encoder = nn.Sequential(nn.Linear(total, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.to_mean = nn.Linear(hidden, config.latent_dim)
        self.to_scale = nn.Linear(hidden, config.latent_dim)
        self.decoder = nn.Sequential(nn.Linear(config.latent_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden),
                                     nn.GELU(), nn.Linear(hidden, total))

    def normalise(self, parts: torch.Tensor) -> torch.Tensor:
        return (parts - self.center) / self.spread

    def encode(self, parts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and scale of q(z | part latents); parts (B, sum(part_dims))."""
        hidden = self.encoder(self.normalise(parts))
        return self.to_mean(hidden), nn.functional.softplus(self.to_scale(hidden)) + 1e-4

    def decode_normalised(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Part latents (B, sum(part_dims)) for trio latents z."""
        return self.decoder(z) * self.spread + self.center

    def split_parts(self, parts: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(parts, self.config.part_dims, dim=-1))

    def save_pretrained(self, directory: Path, extra: dict | None = None) -> None:
        write_pretrained(directory, asdict(self.config), self.state_dict(), extra, float32=("center", "spread"))

    @classmethod
    def from_pretrained(cls, directory: Path) -> "TrioVAE":
        model = cls(TrioConfig.from_json(Path(directory) / CONFIG_NAME))
        model.load_state_dict(read_weights(directory))
        model.eval()
        return model


@dataclass(frozen=True)
class _TrioPieces:
    pieces: list[TrioClip]
    layout: _Pieces  # the melody's layout: real steps per piece


def split_trio(clip: TrioClip) -> _TrioPieces:
    """A trio cut into PIECE_BARS-bar pieces (rests pad the lines, silence the drums)."""
    melody, bass = split(clip.melody), split(clip.bass)
    drum_pieces = []
    for piece, real in zip(melody.pieces, melody.real_steps):
        start = len(drum_pieces) * piece.num_steps
        tokens = np.zeros(piece.num_steps, dtype=clip.drums.tokens.dtype)
        tokens[:real] = clip.drums.tokens[start:start + real]
        drum_pieces.append(replace(clip.drums, tokens=tokens))
    pieces = [TrioClip(m, b, d) for m, b, d in zip(melody.pieces, bass.pieces, drum_pieces)]
    return _TrioPieces(pieces, melody)


def join_trio(decoded: list[TrioClip], layout: _TrioPieces, like: TrioClip) -> TrioClip:
    return TrioClip(join([c.melody for c in decoded], layout.layout, like.melody),
                    join([c.bass for c in decoded], layout.layout, like.bass),
                    join([c.drums for c in decoded], layout.layout, like.drums))


def check_trio(clip: TrioClip) -> None:
    if not isinstance(clip, TrioClip):
        raise InvalidInput(f"the trio model takes a TrioClip (read_trio), not {type(clip).__name__}")


class TrioSpace:
    """Reconstruct, vary and interpolate trios (see the module docstring)."""

    def __init__(self, model: TrioVAE, lines: LatentSpace, drums: DrumSpace) -> None:
        dims = [lines.model.config.latent_dim, lines.model.config.latent_dim, drums.model.config.latent_dim]
        if list(model.config.part_dims) != dims:
            raise MissingAsset(f"the trio model expects part latents of sizes {model.config.part_dims}, the part "
                               f"models give {dims}: load the part models it was trained with")
        self.model = model.eval()
        self.lines = lines
        self.drums = drums

    @classmethod
    def from_pretrained(cls, directory: Path | None = None, lines_dir: Path | None = None,
                        drums_dir: Path | None = None) -> "TrioSpace":
        """The trio model (default symbolic/pretrained/latent_trio/) over the line model (default
        symbolic/pretrained/latent/) and the drum model (default symbolic/pretrained/latent_drums/)."""
        directory = Path(directory) if directory is not None else PRETRAINED_TRIO_DIR
        if not (directory / CONFIG_NAME).exists():
            raise MissingAsset(f"no trio model in {directory}: train one with `python -m symbolic.latent.train_trio` "
                               "or restore symbolic/pretrained/latent_trio/")
        return cls(TrioVAE.from_pretrained(directory), LatentSpace.from_pretrained(lines_dir or PRETRAINED_DIR),
                   DrumSpace.from_pretrained(drums_dir or PRETRAINED_DRUMS_DIR))

    # -- primitives on 2-bar trios ---------------------------------------------------------------------
    def part_latents(self, clips: list[TrioClip]) -> np.ndarray:
        """The part models' posterior means, concatenated: (len(clips), sum(part_dims))."""
        return np.concatenate([self.lines.encode([c.melody for c in clips]), self.lines.encode([c.bass for c in clips]),
                               self.drums.encode([c.drums for c in clips])], axis=1)

    def encode(self, clips: list[TrioClip]) -> np.ndarray:
        """Trio posterior means, (len(clips), latent_dim)."""
        with torch.no_grad():
            mean, _ = self.model.encode(torch.from_numpy(self.part_latents(clips)))
        return mean.numpy()

    def decode(self, latents: np.ndarray, like: TrioClip, decoding: Decoding = Decoding()) -> list[TrioClip]:
        """Trios with the meter, length, tempo and programs of `like`."""
        with torch.no_grad():
            parts = self.model.decode(torch.from_numpy(np.asarray(latents, dtype=np.float32)))
        melody, bass, drums = (p.numpy() for p in self.model.split_parts(parts))
        return [TrioClip(m, b, d) for m, b, d in zip(self.lines.decode(melody, like.melody, decoding),
                                                     self.lines.decode(bass, like.bass, replace(decoding, seed=decoding.seed + 1)),
                                                     self.drums.decode(drums, like.drums, replace(decoding, seed=decoding.seed + 2)))]

    def _decode_pieces(self, latents: np.ndarray, layout: _TrioPieces, like: TrioClip,
                       decoding: Decoding) -> list[TrioClip]:
        count = len(layout.pieces)
        decoded = self.decode(latents, layout.pieces[0], decoding)
        return [join_trio(decoded[i:i + count], layout, like) for i in range(0, len(decoded), count)]

    # -- what a musician asks for ------------------------------------------------------------------------
    def reconstruct(self, clip: TrioClip, decoding: Decoding = Decoding()) -> TrioClip:
        """The trio as the model hears it: encoded and decoded again."""
        check_trio(clip)
        check_decoding(decoding)
        layout = split_trio(clip)
        return self._decode_pieces(self.encode(layout.pieces), layout, clip, decoding)[0]

    def vary(self, clip: TrioClip, num_variations: int, similarity_distance: float,
             shifts: dict[str, float] | None = None, decoding: Decoding = Decoding(),
             max_variations: int = MAX_VARIATIONS, progress: ProgressFn = no_progress,
             cancel: CancelToken | None = None) -> list[TrioClip]:
        """num_variations trios near `clip` (Magenta.js `similar`: the latent moved towards a prior sample
        by similarity_distance). A variation that decodes to the clip or its reconstruction is drawn again
        further out (up to MAX_VARY_ATTEMPTS times, the last two sampled at temperature 1) or left out; the
        melody and the bass keep their registers (space.redraw_variations). Trios have no attribute shifts."""
        check_trio(clip)
        if shifts:
            raise InvalidInput(f"the trio model has no attribute shifts (asked for {', '.join(shifts)}): vary "
                               "the melody or bass with the line model to shift them")
        check_vary(num_variations, similarity_distance, decoding, max_variations)
        layout = split_trio(clip)
        latents = self.encode(layout.pieces)
        if similarity_distance == 0:
            return self._decode_pieces(np.tile(latents, (num_variations, 1)), layout, clip, decoding)
        original = self._decode_pieces(latents, layout, clip, decoding)[0]
        span = PIECE_BARS * clip.time_signature.steps_per_bar

        def decode(points: np.ndarray, attempt_decoding: Decoding) -> list[TrioClip]:
            return [TrioClip(replace(c.melody, tokens=keep_register(c.melody.tokens, clip.melody.tokens, span)),
                             replace(c.bass, tokens=keep_register(c.bass.tokens, clip.bass.tokens, span)), c.drums)
                    for c in self._decode_pieces(points, layout, clip, attempt_decoding)]

        return redraw_variations(latents, num_variations, similarity_distance, decoding, decode,
                                 lambda c: same_trio(c, original) or same_trio(c, clip), progress, cancel,
                                 seed_stride=3)

    def interpolate(self, start: TrioClip, end: TrioClip, steps: int, decoding: Decoding = Decoding(),
                    max_steps: int = MAX_STEPS, progress: ProgressFn = no_progress,
                    cancel: CancelToken | None = None) -> list[TrioClip]:
        """`steps` trios (2-max_steps) from start to end along the slerp of their trio latents; the endpoints
        are the reconstructions of start and end. Each trio takes the meter, length and programs of the
        nearer endpoint, the tempo moves linearly; pieces of clips of different lengths pair in order, the
        shorter clip's cyclically."""
        check_trio(start)
        check_trio(end)
        if steps < 2:
            raise InvalidInput(f"steps is {steps}: ask for 2-{max_steps} clips (the two endpoints and the "
                               "blends between them)")
        if steps > max_steps:
            raise LimitExceeded("interpolation steps", steps, max_steps)
        check_decoding(decoding)
        layouts = split_trio(start), split_trio(end)
        latents = self.encode(layouts[0].pieces), self.encode(layouts[1].pieces)
        fractions = [i / (steps - 1) for i in range(steps)]
        results: list[TrioClip] = []
        halves = [i for i, f in enumerate(fractions) if f <= 0.5], [i for i, f in enumerate(fractions) if f > 0.5]
        for half, layout, like in zip(halves, layouts, (start, end)):
            if not half:
                continue
            if cancel is not None:
                cancel.check()
            pieces = len(layout.pieces)
            points = np.stack([slerp(latents[0][p % len(latents[0])], latents[1][p % len(latents[1])], fractions[i])
                               for i in half for p in range(pieces)])
            for index, clip in zip(half, self._decode_pieces(points, layout, like, decoding)):
                tempo = (1 - fractions[index]) * start.tempo_bpm + fractions[index] * end.tempo_bpm
                results.append(TrioClip(*(replace(part, tempo_bpm=tempo) for part in clip.parts())))
            progress(ProgressEvent("interpolate", len(results) / steps, f"{len(results)} of {steps} clips"))
        return results


def same_trio(a: TrioClip, b: TrioClip) -> bool:
    return all(np.array_equal(x.tokens, y.tokens) for x, y in zip(a.parts(), b.parts()))


__all__ = ["DrumClip", "TrioClip", "TrioConfig", "TrioSpace", "TrioVAE"]
