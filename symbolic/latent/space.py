"""The latent space a musician uses: reconstruct, vary, interpolate and shift clips by attributes.

    space = LatentSpace.from_pretrained()           # the shipped checkpoint, or a trained directory
    clip = midi_to_clip(open("a.mid", "rb").read())
    variations = space.vary(clip, num_variations=4, similarity_distance=0.3)
    blend = space.interpolate(clip_a, clip_b, steps=8)   # endpoints are the reconstructions of a and b

Interpolation follows MusicVAE: spherical interpolation between the two posterior means, each point
decoded. Variations follow Magenta.js `similar`: the clip's latent is moved towards a fresh prior sample
by similarity_distance (0 = the clip's own reconstruction, 1 = an unrelated sample). Density shifts
(notes_per_bar, rhythm_intensity) add MusicVAE-style attribute vectors (the quartile mean difference,
with the part that would move the other attributes removed; see evaluate.attribute_vectors), scaled and
calibrated so that amount 1.0 moves the decoded attribute the requested way. Register (mean_pitch) and
range (pitch_range_octaves) shifts edit the clip before it is encoded (shift_clip): as latent vectors
they moved what they name in too few clips.

Decoding is greedy (argmax per step) unless a temperature is given, so the same request gives the same
clips.

Clip lengths: every clip is read in 2-bar pieces, each with its own latent, and joined again (a note
tied over a piece boundary restarts there); a 1-bar clip, or the last bar of an odd-length one, is
padded with rest to 2 bars and trimmed again on output. The shipped model was last trained on 2-bar
pieces only (held-out greedy grid accuracy through evaluate_external: pop melody 0.91 at 2 and 16 bars,
folk 0.98); the 16-bar hierarchical model (hierarchical.SectionSpace) and the trio model (trio.TrioSpace)
are families of their own (families.py). Interpolating clips of different lengths pairs their pieces in
order, reusing the shorter clip's pieces cyclically.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ostinato.errors import InvalidInput, LimitExceeded, MissingAsset
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn, no_progress
from symbolic.latent.measures import ATTRIBUTES
from symbolic.latent.model import CONFIG_NAME, MelodyVAE, features_tensor
from symbolic.latent.representation import NO_EVENT, NUM_PITCHES, MelodyClip, metric_features

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "latent"
ATTRIBUTE_VECTORS_NAME = "attribute_vectors.json"
MAX_STEPS = 16
PIECE_BARS = 2  # bars per latent (see the module docstring)
CANDIDATES_PER_STEP = 3  # decoded points per inner interpolation blend (see LatentSpace._smooth_path)
MAX_VARIATIONS = 16
MAX_VARY_ATTEMPTS = 8
VARY_WIDENING = 1.6  # each redraw of a variation that came out as the clip itself goes this much further
CLIP_SHIFTS = ("mean_pitch", "pitch_range_octaves")  # applied to the clip, not the latent (shift_clip)
REGISTER_SEMITONES = 3  # mean_pitch shift of 1.0
RANGE_FACTOR = 0.4  # pitch_range_octaves shift of 1.0 widens intervals by 40%
LOWEST_PITCH, HIGHEST_PITCH = 21, 108
OUTLIER_SEMITONES = 19  # a varied note further than this from its piece's median pitch is folded back
ALIASES = {"density": "rhythm_intensity", "note_density": "rhythm_intensity", "range": "pitch_range_octaves",
           "register": "mean_pitch", "pitch": "mean_pitch"}


@dataclass(frozen=True)
class Decoding:
    """How latents become notes. temperature 0 is greedy; top_k 0 keeps every class."""

    temperature: float = 0.0
    top_k: int = 0
    seed: int = 0


@dataclass(frozen=True)
class AttributeVector:
    """Latent direction of one attribute and the attribute's statistics in the training windows."""

    direction: np.ndarray
    attribute_delta: float  # mean attribute of the top quartile minus the bottom quartile
    attribute_std: float


def check_decoding(decoding: Decoding) -> None:
    if decoding.temperature != 0 and not 0.1 <= decoding.temperature <= 2.0:
        raise InvalidInput(f"temperature {decoding.temperature:g} is out of range: use 0.1-2.0, or 0 for greedy")
    if decoding.top_k < 0:
        raise InvalidInput("top_k must be 0 (off) or positive")


@dataclass(frozen=True)
class _Pieces:
    """A clip cut into model-sized pieces of equal (padded) length."""

    pieces: list[MelodyClip]
    real_steps: list[int]  # steps of each piece that belong to the clip


def split(clip: MelodyClip) -> _Pieces:
    """Cuts a clip into the pieces the model reads (see the module docstring)."""
    steps_per_bar = clip.time_signature.steps_per_bar
    bars = clip.num_bars
    spans = [(start, min(PIECE_BARS, bars - start), PIECE_BARS) for start in range(0, bars, PIECE_BARS)]
    pieces, real = [], []
    for start_bar, piece_bars, padded_bars in spans:
        tokens = clip.tokens[start_bar * steps_per_bar:(start_bar + piece_bars) * steps_per_bar]
        padding = np.full((padded_bars - piece_bars) * steps_per_bar, NO_EVENT, dtype=tokens.dtype)
        pieces.append(replace(clip, tokens=np.concatenate([tokens, padding])))
        real.append(piece_bars * steps_per_bar)
    return _Pieces(pieces, real)


def join(decoded: list[MelodyClip], layout: _Pieces, like: MelodyClip) -> MelodyClip:
    """Concatenates decoded pieces, dropping padding; meter, tempo and program from `like`."""
    tokens = np.concatenate([clip.tokens[:steps] for clip, steps in zip(decoded, layout.real_steps)])
    return replace(like, tokens=tokens)


def stretch_range(tokens: np.ndarray, amount: float) -> np.ndarray:
    """Intervals around the middle pitch scaled by 1 + RANGE_FACTOR * amount (at least 0.2), snapped to
    the clip's scale (the pitch classes it uses plus the major-scale mode that holds most of its notes);
    the outermost notes move at least one scale step, so the range always changes the way asked (unless a
    squeeze meets a single pitch)."""
    tokens = tokens.copy()
    is_pitch = tokens < NUM_PITCHES
    pitches = tokens[is_pitch].astype(float)
    low, high = pitches.min(), pitches.max()
    middle = (low + high) / 2
    used = [int(p) % 12 for p in pitches]
    # the pitch classes used plus the major scale (any mode of it) that holds most of the clip's notes
    scale = max(({(root + degree) % 12 for degree in (0, 2, 4, 5, 7, 9, 11)} for root in range(12)),
                key=lambda candidate: sum(c in candidate for c in used))
    classes = scale | set(used)
    allowed = np.array([p for p in range(LOWEST_PITCH, HIGHEST_PITCH + 1) if p % 12 in classes])
    factor = max(0.2, 1.0 + RANGE_FACTOR * amount)

    def snap(value: float) -> int:
        return int(allowed[np.argmin(np.abs(allowed - value))])

    moved = np.array([snap(middle + (p - middle) * factor) for p in pitches])
    if amount > 0 and moved.max() - moved.min() <= high - low:
        top = moved == moved.max()
        moved[top] = allowed[min(np.searchsorted(allowed, moved.max()) + 1, len(allowed) - 1)]
    elif amount < 0 and moved.max() - moved.min() >= high - low and high > low:
        top = moved == moved.max()
        moved[top] = allowed[max(np.searchsorted(allowed, moved.max()) - 1, 0)]
    tokens[is_pitch] = moved
    return tokens


def keep_register(tokens: np.ndarray, reference: np.ndarray, span: int) -> np.ndarray:
    """tokens with each span-long piece moved by whole octaves so that its mean pitch is within half an
    octave of the same piece of reference (or of the whole reference where that piece is silent), and any
    note more than OUTLIER_SEMITONES from the piece's median pitch folded back by octaves, as far as the
    piano range allows."""
    tokens = tokens.copy()
    reference_pitches = reference[reference < NUM_PITCHES]
    if not len(reference_pitches):
        return tokens
    for begin in range(0, len(tokens), span):
        piece, wanted = tokens[begin:begin + span], reference[begin:begin + span]
        is_pitch = piece < NUM_PITCHES
        if not is_pitch.any():
            continue
        target = wanted[wanted < NUM_PITCHES].mean() if (wanted < NUM_PITCHES).any() else reference_pitches.mean()
        piece[is_pitch] += 12 * int(np.round((target - piece[is_pitch].mean()) / 12))
        # a lone note leaping far out of the line (e.g. MIDI 71 in a bass line around 40) comes back too
        middle = float(np.clip(np.median(piece[is_pitch]), LOWEST_PITCH + 6, HIGHEST_PITCH - 6))
        for step in np.flatnonzero(is_pitch):
            while piece[step] - middle > OUTLIER_SEMITONES or piece[step] > HIGHEST_PITCH:
                piece[step] -= 12
            while middle - piece[step] > OUTLIER_SEMITONES or piece[step] < LOWEST_PITCH:
                piece[step] += 12
    return tokens


def check_vary(num_variations: int, similarity_distance: float, decoding: Decoding, max_variations: int) -> None:
    if num_variations < 1:
        raise InvalidInput(f"num_variations is {num_variations}: ask for at least 1")
    if num_variations > max_variations:
        raise LimitExceeded("variations", num_variations, max_variations)
    if not 0.0 <= similarity_distance <= 1.0:
        raise InvalidInput(f"similarity_distance {similarity_distance:g} is out of range: use 0-1")
    check_decoding(decoding)


def redraw_variations(latents: np.ndarray, num_variations: int, similarity_distance: float, decoding: Decoding,
                      decode: Callable[[np.ndarray, Decoding], list], same: Callable[[Any], bool],
                      progress: ProgressFn, cancel: CancelToken | None, seed_stride: int = 1) -> list:
    """Variations of a clip whose pieces have `latents` (Magenta.js `similar`): each is the pieces' latents
    moved towards a fresh prior sample by similarity_distance and decoded (decode(points, decoding) gives
    one clip per len(latents) rows). A variation for which same(variation) holds (the clip or its
    reconstruction) is drawn again, each time further out, up to MAX_VARY_ATTEMPTS draws, the last two
    sampled at temperature 1; one that never leaves the clip is left out."""
    rng = np.random.default_rng(decoding.seed)
    results: list = [None] * num_variations
    pending = list(range(num_variations))
    for attempt in range(MAX_VARY_ATTEMPTS):
        if cancel is not None:
            cancel.check()
        distance = min(1.0, similarity_distance * VARY_WIDENING ** attempt)
        noise = rng.standard_normal((len(pending), *latents.shape)).astype(np.float32)
        points = np.concatenate([np.stack([slerp(z, n, distance) for z, n in zip(latents, row)]) for row in noise])
        attempt_decoding = replace(decoding, seed=decoding.seed + seed_stride * attempt)
        if attempt >= MAX_VARY_ATTEMPTS - 2 and decoding.temperature == 0:
            attempt_decoding = replace(attempt_decoding, temperature=1.0)  # greedy kept landing on the clip
        still_same = []
        for index, candidate in zip(pending, decode(points, attempt_decoding)):
            if same(candidate):
                still_same.append(index)
            else:
                results[index] = candidate
        done = num_variations - len(still_same)
        progress(ProgressEvent("vary", done / num_variations, f"{done} of {num_variations} variations"))
        if not still_same:
            break
        pending = still_same
    return [variation for variation in results if variation is not None]


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation (MusicVAE's choice for Gaussian latents); linear for parallel vectors."""
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    cos = np.clip(np.dot(a, b) / norm, -1.0, 1.0) if norm > 0 else 1.0
    omega = np.arccos(cos)
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


class LatentSpace:
    def __init__(self, model: MelodyVAE, attribute_vectors: dict[str, AttributeVector] | None = None) -> None:
        self.model = model.eval()
        self.attribute_vectors = attribute_vectors or {}

    @classmethod
    def from_pretrained(cls, directory: Path | None = None) -> "LatentSpace":
        """Loads a model directory (config.json, model.safetensors, optional attribute_vectors.json)."""
        directory = Path(directory) if directory is not None else PRETRAINED_DIR
        if not (directory / CONFIG_NAME).exists():
            raise MissingAsset(f"no latent model in {directory}: train one with "
                               "`python -m symbolic.latent.train` or restore symbolic/pretrained/latent/")
        model = MelodyVAE.from_pretrained(directory)
        vectors: dict[str, AttributeVector] = {}
        path = directory / ATTRIBUTE_VECTORS_NAME
        if path.exists():
            for name, entry in json.loads(path.read_text()).items():
                vectors[name] = AttributeVector(np.array(entry["direction"], dtype=np.float32),
                                                float(entry["attribute_delta"]), float(entry["attribute_std"]))
        return cls(model, vectors)

    # -- what differs between clip families (drum_space.DrumSpace overrides these) -------------------
    def _keep_register(self, tokens: np.ndarray, reference: np.ndarray, span: int) -> np.ndarray:
        return keep_register(tokens, reference, span)

    def _states(self, tokens: np.ndarray) -> np.ndarray:
        """Per-step states whose share of agreement measures two clips' likeness (see _smooth_path)."""
        return sounding_states(tokens)

    def _voice_of(self, clip: MelodyClip) -> dict:
        """The fields an interpolated clip takes from its nearer endpoint besides meter and length."""
        return {"program": clip.program}

    # -- primitives on model-sized clips (2-4 bars, at most 64 steps) --------------------------------
    def encode(self, clips: list[MelodyClip]) -> np.ndarray:
        """Posterior means, shape (len(clips), latent_dim); clips of one length go in one batch."""
        means = np.zeros((len(clips), self.model.config.latent_dim), dtype=np.float32)
        by_shape: dict[tuple, list[int]] = {}
        for index, clip in enumerate(clips):
            by_shape.setdefault((clip.time_signature, clip.num_steps), []).append(index)
        for (time_signature, steps), indexes in by_shape.items():
            tokens = torch.from_numpy(np.stack([clips[i].tokens for i in indexes]).astype(np.int64))
            features = features_tensor(metric_features(time_signature, steps), len(indexes))
            with torch.no_grad():
                mean, _ = self.model.encode(tokens, features)
            means[indexes] = mean.numpy()
        return means

    def decode(self, latents: np.ndarray, like: MelodyClip, decoding: Decoding = Decoding()) -> list[MelodyClip]:
        """Decodes latents to clips with the meter, length, tempo and program of `like`."""
        features = features_tensor(metric_features(like.time_signature, like.num_steps), latents.shape[0])
        generator = torch.Generator().manual_seed(int(decoding.seed)) if decoding.temperature > 0 else None
        tokens = self.model.decode(torch.from_numpy(np.asarray(latents, dtype=np.float32)), features,
                                   decoding.temperature, decoding.top_k, generator).numpy()
        return [replace(like, tokens=row) for row in tokens]

    def _check_shifts(self, shifts: dict[str, float]) -> dict[str, float]:
        """Shifts by canonical attribute name; unknown names and amounts outside -4..4 are refused."""
        checked: dict[str, float] = {}
        for name, amount in shifts.items():
            key = ALIASES.get(name, name)
            if key not in self.attribute_vectors and key not in CLIP_SHIFTS:
                known = ", ".join(sorted(set(self.attribute_vectors) | set(CLIP_SHIFTS)))
                raise InvalidInput(f"unknown attribute to shift: {name!r}; use one of {known}")
            if not -4.0 <= amount <= 4.0:
                raise InvalidInput(f"shift of {name} by {amount:g} standard deviations: use -4 to 4")
            checked[key] = checked.get(key, 0.0) + float(amount)
        return checked

    def shift(self, latent: np.ndarray, shifts: dict[str, float]) -> np.ndarray:
        """Adds attribute vectors to a latent (or a stack of them); amounts are in standard deviations.
        Register and range shifts are not latent vectors (see shift_clip) and are skipped here."""
        latent = latent.copy()
        for key, amount in self._check_shifts(shifts).items():
            if key in CLIP_SHIFTS:
                continue
            vector = self.attribute_vectors[key]
            latent += amount * vector.attribute_std / vector.attribute_delta * vector.direction
        return latent

    def shift_clip(self, clip: MelodyClip, shifts: dict[str, float]) -> MelodyClip:
        """Applies the register and range shifts to the clip itself, before it is encoded.

        The latent directions for these moved the decoded register the requested way in only ~72% of
        held-out clips and the range in ~46% (evaluate_external), so they are exact edits instead:
        mean_pitch transposes by REGISTER_SEMITONES per unit (rounded), and pitch_range_octaves
        stretches or squeezes the intervals around the clip's middle pitch by RANGE_FACTOR per unit,
        each new pitch snapped to the pitch classes the clip already uses (so it stays in its key).
        """
        checked = self._check_shifts(shifts)
        tokens = clip.tokens.copy()
        is_pitch = tokens < NUM_PITCHES
        if not is_pitch.any():
            return clip
        if checked.get("pitch_range_octaves"):
            tokens = stretch_range(tokens, checked["pitch_range_octaves"])
        if checked.get("mean_pitch"):
            semitones = int(round(checked["mean_pitch"] * REGISTER_SEMITONES))
            low, high = int(tokens[is_pitch].min()), int(tokens[is_pitch].max())
            semitones = int(np.clip(semitones, LOWEST_PITCH - low, HIGHEST_PITCH - high))
            tokens[is_pitch] += semitones
        return replace(clip, tokens=tokens)

    # -- what a musician asks for (clips of any length) ----------------------------------------------
    def _split(self, clip: MelodyClip) -> _Pieces:
        """The clip cut into the units that get one latent each (2-bar pieces here; 16-bar sections in
        hierarchical.SectionSpace)."""
        return split(clip)

    def _decode_pieces(self, latents: np.ndarray, layout: _Pieces, like: MelodyClip,
                       decoding: Decoding) -> list[MelodyClip]:
        """Decodes rows of len(layout.pieces) latents each into whole clips."""
        count = len(layout.pieces)
        decoded = self.decode(latents, layout.pieces[0], decoding)
        return [join(decoded[i:i + count], layout, like) for i in range(0, len(decoded), count)]

    def reconstruct(self, clip: MelodyClip, decoding: Decoding = Decoding()) -> MelodyClip:
        """The clip as the model hears it: encoded and decoded again."""
        layout = self._split(clip)
        return self._decode_pieces(self.encode(layout.pieces), layout, clip, decoding)[0]

    def vary(self, clip: MelodyClip, num_variations: int, similarity_distance: float,
             shifts: dict[str, float] | None = None, decoding: Decoding = Decoding(),
             max_variations: int = MAX_VARIATIONS, progress: ProgressFn = no_progress,
             cancel: CancelToken | None = None) -> list[MelodyClip]:
        """num_variations clips near `clip`, in its meter, length, tempo and program.

        A variation keeps the clip's register: a piece that came out more than half an octave above or below
        the clip's (shifted) piece is moved back by whole octaves (keep_register), so a bass line's
        variations stay bass lines; register is changed on purpose with the mean_pitch shift.
        With similarity_distance > 0 every variation differs from the clip's reconstruction and from the
        clip itself: one that decodes to the same notes is drawn again, each time further out (up to
        MAX_VARY_ATTEMPTS draws, the last two sampled at temperature 1); one that never leaves the clip
        is left out rather than returned. similarity_distance 0 asks for the reconstruction itself (with
        the shifts applied).
        """
        check_vary(num_variations, similarity_distance, decoding, max_variations)
        layout = self._split(clip)
        shifts = shifts or {}
        encoded = self.encode(layout.pieces)
        shifted_clip = self.shift_clip(clip, shifts)
        shifted = encoded if shifted_clip is clip or np.array_equal(shifted_clip.tokens, clip.tokens) else \
            self.encode(self._split(shifted_clip).pieces)
        latents = np.stack([self.shift(z, shifts) for z in shifted])
        if similarity_distance == 0:
            progress(ProgressEvent("vary", 0.5, f"decoding {num_variations} variations"))
            return self._decode_pieces(np.tile(latents, (num_variations, 1)), layout, clip, decoding)
        original = self._decode_pieces(encoded, layout, clip, decoding)[0].tokens

        def decode(points: np.ndarray, attempt_decoding: Decoding) -> list[MelodyClip]:
            return [replace(candidate, tokens=self._keep_register(candidate.tokens, shifted_clip.tokens,
                                                                  PIECE_BARS * clip.time_signature.steps_per_bar))
                    for candidate in self._decode_pieces(points, layout, clip, attempt_decoding)]

        def same(candidate: MelodyClip) -> bool:
            return np.array_equal(candidate.tokens, original) or np.array_equal(candidate.tokens, clip.tokens)

        return redraw_variations(latents, num_variations, similarity_distance, decoding, decode, same, progress,
                                 cancel)

    def interpolate(self, start: MelodyClip, end: MelodyClip, steps: int, decoding: Decoding = Decoding(),
                    max_steps: int = MAX_STEPS, progress: ProgressFn = no_progress,
                    cancel: CancelToken | None = None, candidates_per_step: int = CANDIDATES_PER_STEP,
                    ) -> list[MelodyClip]:
        """`steps` clips (2-max_steps) from start to end, endpoints included (the endpoints are the
        reconstructions of start and end).

        Each clip takes the meter, length and program of the nearer endpoint; tempo moves linearly.
        When both clips have the same meter and length and decoding is greedy, each blend is chosen
        among candidates_per_step points around its place on the path (see _smooth_path).
        """
        if steps < 2:
            raise InvalidInput(f"steps is {steps}: ask for 2-{max_steps} clips (the two endpoints and "
                               "the blends between them)")
        if steps > max_steps:
            raise LimitExceeded("interpolation steps", steps, max_steps)
        check_decoding(decoding)
        layouts = self._split(start), self._split(end)
        latents = self.encode(layouts[0].pieces), self.encode(layouts[1].pieces)
        fractions = [i / (steps - 1) for i in range(steps)]
        same_shape = start.time_signature == end.time_signature and start.num_steps == end.num_steps
        if same_shape and decoding.temperature == 0 and candidates_per_step > 1 and steps > 2:
            if cancel is not None:
                cancel.check()
            clips = self._smooth_path(latents, layouts[0], (start, end), fractions, decoding, candidates_per_step)
            progress(ProgressEvent("interpolate", 1.0, f"{steps} of {steps} clips"))
            return [replace(clip, **self._voice_of(start if f <= 0.5 else end),
                            tempo_bpm=(1 - f) * start.tempo_bpm + f * end.tempo_bpm)
                    for clip, f in zip(clips, fractions)]
        results: list[MelodyClip] = []
        # Points take the meter of the nearer endpoint; each half is decoded as one batch.
        halves = [i for i, f in enumerate(fractions) if f <= 0.5], [i for i, f in enumerate(fractions) if f > 0.5]
        for half, layout, like in zip(halves, layouts, (start, end)):
            if not half:
                continue
            if cancel is not None:
                cancel.check()
            pieces = len(layout.pieces)
            points = np.stack([
                slerp(latents[0][p % len(latents[0])], latents[1][p % len(latents[1])], fractions[i])
                for i in half for p in range(pieces)])
            clips = self._decode_pieces(points, layout, like, replace(decoding, seed=decoding.seed + half[0]))
            for index, clip in zip(half, clips):
                fraction = fractions[index]
                results.append(replace(clip, tempo_bpm=(1 - fraction) * start.tempo_bpm + fraction * end.tempo_bpm))
            progress(ProgressEvent("interpolate", len(results) / steps, f"{len(results)} of {steps} clips"))
        return results

    def _smooth_path(self, latents: tuple[np.ndarray, np.ndarray], layout: _Pieces,
                     ends: tuple[MelodyClip, MelodyClip], fractions: list[float], decoding: Decoding,
                     candidates: int) -> list[MelodyClip]:
        """Greedy decodes of nearby latents can jump: the blend a seventh of the way may share less with
        the start than the one after it. So the path is decoded at candidates * (steps - 2) points evenly
        spread between the endpoints, all in one batch, and dynamic programming keeps steps - 2 of them, in
        path order, whose likeness (sounding_states) to the start falls and to the end rises most
        steadily; likeness is measured both to the clips given and to their reconstructions (which are
        the endpoints, and not always exact). Among equally steady choices, points near their own place
        win. Endpoints stay the reconstructions."""
        like = ends[0]
        steps = len(fractions)
        inner = steps - 2
        count = candidates * inner
        flat = [0.0] + [(i + 1) / (count + 1) for i in range(count)] + [1.0]
        pieces = len(layout.pieces)
        points = np.stack([slerp(latents[0][p % len(latents[0])], latents[1][p % len(latents[1])], f)
                           for f in flat for p in range(pieces)])
        decoded = self._decode_pieces(points, layout, like, decoding)
        states = [self._states(c.tokens) for c in decoded]
        references = (states[0], self._states(ends[0].tokens)), (states[-1], self._states(ends[1].tokens))
        to_start, to_end = (np.array([[float(np.mean(s == r)) for r in pair] for s in states]) for pair in references)
        last = len(flat) - 1

        def jump(j: int, k: int) -> float:
            return float(np.maximum(0.0, to_start[k] - to_start[j]).sum() + np.maximum(0.0, to_end[j] - to_end[k]).sum())

        # cost[k]: the least unsteadiness of a path whose latest blend is point k; points only move forward
        cost = {0: 0.0}
        back: list[dict[int, int]] = []
        for step in range(1, steps):
            targets = [last] if step == steps - 1 else range(step, last - (inner - step))
            new_cost, choice = {}, {}
            for k in targets:
                earlier = [j for j in cost if j < k]
                best = min(earlier, key=lambda j: cost[j] + jump(j, k))
                drift = 0.0 if k == last else abs(flat[k] - fractions[step]) * 0.05
                new_cost[k], choice[k] = cost[best] + jump(best, k) + drift, best
            cost = new_cost
            back.append(choice)
        path = [last]
        for choice in reversed(back):
            path.append(choice[path[-1]])
        return [decoded[k] for k in reversed(path)]


def sounding_states(tokens: np.ndarray) -> np.ndarray:
    """Per step: the pitch that sounds (+1, so 0 is rest), negative while it is held after its onset; two
    clips' likeness is the share of steps with the same state (the same note struck or held, or rest)."""
    states = np.zeros(len(tokens), dtype=np.int64)
    current = 0
    for step, token in enumerate(tokens):
        if token < NUM_PITCHES:
            current = int(token) + 1
            states[step] = current
        elif token == NO_EVENT and current:
            states[step] = -current
        else:
            current = 0
    return states
