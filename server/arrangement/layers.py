"""Audio layers of an arrangement: a melody-conditioned layer (the MelodyGenerator) and an accompaniment
layer (the Accompanist), made section by section from the notes of the tracks they follow, kept with
the section (and its cache entry) and mixed under the FluidSynth render of the note tracks.

A layer in a section hears only that section's notes of the tracks it follows, rendered with
FluidSynth, so editing one section remakes only that section's layer. A repeat uses its source
section's seed: the same notes give the same layer audio.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ostinato.runtime import CancelToken
from server.arrangement import model as m
from symbolic.attributes import DRUM_PROGRAM, NoteTable

if TYPE_CHECKING:
    from audio_render.render import RenderedAudio
    from server.arrangement.arranger import SectionResult
    from server.arrangement.piece import Piece

# Both models write 16 kHz audio (their mel codec's rate); layers are kept at that rate.
LAYER_RATE_HZ = 16_000
# The melody is rendered at the chroma's own rate, mono, without effects (as the melody service does).
MELODY_INPUT_RATE_HZ = 32_000
EDGE_FADE_S = 0.01  # at section edges, so a layer made section by section does not click
# A layer sits under the instruments: its RMS, where it plays, is this share of the mix's RMS there.
LAYER_LEVEL = 0.6
MAX_LAYER_GAIN = 20.0
STEM_PREFIX = "layer:"


@dataclass(frozen=True)
class LayerModels:
    """What audio layers are made with.

    Args:
        melody: returns the melody model (None: melody_audio layers are not available).
        accompanist: returns what writes a part ("drums" or "backing"): the process's accompaniment writer
            for that part, by its default route (None: accompanist layers are not available).
        soundfont: renders the notes a layer hears.
    """

    melody: Callable[[], object] | None = None
    accompanist: Callable[[str], object] | None = None
    soundfont: str | Path = "FluidR3_GM"

    @property
    def capabilities(self) -> dict[str, bool]:
        return {m.SOURCE_MELODY_AUDIO: self.melody is not None, m.SOURCE_ACCOMPANIST: self.accompanist is not None}


def followed_tracks(arrangement: m.Arrangement, track: m.TrackSpec) -> list[str]:
    """The tracks a drumify track or an audio layer follows: its `of`, else every pitched note track."""
    if track.of:
        return list(track.of)
    return [t.name for t in arrangement.tracks if t.source in m.NOTE_SOURCES and t.program != DRUM_PROGRAM]


def heard_notes(arrangement: m.Arrangement, track: m.TrackSpec, parts: dict[str, NoteTable]) -> NoteTable:
    """The pitched notes of the followed tracks in one section (times from the section's start)."""
    from symbolic.attributes import concat_tables

    heard = concat_tables([parts[name] for name in followed_tracks(arrangement, track) if name in parts])
    return heard.select(heard.program != DRUM_PROGRAM)


def layer_seed(arrangement: m.Arrangement, track: m.TrackSpec, spec: m.SectionSpec) -> int:
    from server.arrangement.arranger import section_seed

    return section_seed(arrangement.seed, "layer", track.name, spec.repeat or spec.name)


def make_layer(arrangement: m.Arrangement, track: m.TrackSpec, section: "SectionResult", models: LayerModels,
               cancel: CancelToken | None = None) -> tuple[np.ndarray, str | None]:
    """One section of an audio layer: float32 mono at LAYER_RATE_HZ, exactly the section's length, and
    a notice when the layer has nothing to hear there."""
    from audio_render.render import RenderOptions
    from symbolic.midi_io import table_to_midi

    spec = section.spec
    frames = int(round(section.length_q * 60.0 / spec.tempo_bpm * LAYER_RATE_HZ))
    heard = heard_notes(arrangement, track, section.parts)
    if len(heard) == 0:
        names = ", ".join(followed_tracks(arrangement, track))
        return np.zeros(frames, np.float32), f"{track.name} is silent in {spec.name}: {names} play no notes there"
    midi = table_to_midi(heard, spec.time_signature, spec.tempo_bpm, bars=spec.bars)
    seed = layer_seed(arrangement, track, spec)
    if track.source == m.SOURCE_MELODY_AUDIO:
        if models.melody is None:
            raise _unavailable(track)
        options = RenderOptions(soundfont=models.soundfont, sample_rate_hz=MELODY_INPUT_RATE_HZ, channels=1,
                                tail_s=0.0, reverb=None, chorus=None)
        heard_audio = _render_fresh(midi, options, cancel)
        audio, rate = _melody_layer(models.melody(), heard_audio[:, 0], MELODY_INPUT_RATE_HZ,
                                    track.text or _instrument_text(track), frames / LAYER_RATE_HZ, seed, cancel)
    elif track.source == m.SOURCE_ACCOMPANIST:
        if models.accompanist is None:
            raise _unavailable(track)
        options = RenderOptions(soundfont=models.soundfont, sample_rate_hz=LAYER_RATE_HZ, channels=1, tail_s=0.0,
                                reverb=None, chorus=None)
        part = track.part or "drums"
        audio, rate = _accompanist_layer(models.accompanist(part), _render_fresh(midi, options, cancel), LAYER_RATE_HZ,
                                         part, seed, cancel)
    else:
        raise ValueError(f"{track.source} is not an audio layer")
    if rate != LAYER_RATE_HZ:
        from audio_render.chroma import resample

        audio = resample(audio, rate, LAYER_RATE_HZ)
    return _fit(np.asarray(audio, np.float32), frames), None


def _render_fresh(midi: bytes, options, cancel: CancelToken | None) -> np.ndarray:  # type: ignore[no-untyped-def]
    """What a layer hears, rendered on a synth of its own: a pooled synth's notes start slightly
    differently after what it played before (audio_render.fluid), and one changed code in a model's
    output changes the layer, so the same notes must always sound the same here."""
    from audio_render.fluid import SynthPool
    from audio_render.render import RenderStream

    stream = RenderStream(midi, options, cancel=cancel, pool=SynthPool(max_idle_per_key=0))
    audio = np.zeros((stream.total_frames, stream.channels), np.float32)
    for block in stream:
        audio[block.start_frame:block.start_frame + len(block.mix)] = block.mix
    return audio


def _unavailable(track: m.TrackSpec) -> Exception:
    from ostinato.errors import NotImplementedYet

    return NotImplementedYet(f"{track.source} layers are not available on this server (track {track.name!r})")


def _instrument_text(track: m.TrackSpec) -> str:
    from symbolic.instruments import program_name

    return program_name(track.program)


def _melody_layer(model, melody: np.ndarray, melody_rate_hz: int, text: str, duration_s: float, seed: int,
                  cancel: CancelToken | None) -> tuple[np.ndarray, int]:  # type: ignore[no-untyped-def]
    from audio_render.melody.model import MelodyRequest

    request = MelodyRequest(text=text, duration_s=max(duration_s, 1.0), seed=seed)
    pieces = [piece.samples for piece in model.generate(melody.astype(np.float32), melody_rate_hz, request,
                                                        cancel=cancel)]
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32), model.info.sample_rate_hz


def _accompanist_layer(model, samples: np.ndarray, rate_hz: int, part: str, seed: int,
                       cancel: CancelToken | None) -> tuple[np.ndarray, int]:  # type: ignore[no-untyped-def]
    from audio_render.accompanist.model import AccompanimentChunk, AccompanimentRequest

    request = AccompanimentRequest(samples=samples.astype(np.float32), sample_rate_hz=rate_hz, part=part, seed=seed)
    pieces = [item.part[:, 0] for item in model.generate(request, cancel=cancel) if isinstance(item, AccompanimentChunk)]
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32), rate_hz


def _fit(audio: np.ndarray, frames: int) -> np.ndarray:
    audio = audio[:frames]
    return np.pad(audio, (0, frames - audio.shape[0])) if audio.shape[0] < frames else audio


# ---- storage in a cache entry --------------------------------------------------------------------
def encode_layer(audio: np.ndarray) -> str:
    """16-bit PCM, base64 (what a section's cache entry holds)."""
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
    return base64.b64encode(pcm.tobytes()).decode("ascii")


def decode_layer(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<i2").astype(np.float32) / 32767.0


def layer_key(arrangement: m.Arrangement, track: m.TrackSpec, section: "SectionResult", model_id: str) -> str:
    """What a section's layer depends on: the layer, the section's notes (its cache key) and the models."""
    return m.digest(track.fingerprint(), section.cache_key, layer_seed(arrangement, track, section.spec), model_id)


# ---- the mix ----------------------------------------------------------------------------------------
def layer_tracks(piece: "Piece") -> list[m.TrackSpec]:
    return [t for t in piece.arrangement.tracks if t.is_audio_layer
            and any(t.name in s.layers for s in piece.sections)]


def whole_layer(piece: "Piece", name: str, frames: int, rate_hz: int) -> np.ndarray:
    """One layer over the whole piece at rate_hz, `frames` long: each section's audio at its start, faded
    in and out at the section's edges, silence where the layer does not play."""
    from audio_render.chroma import resample

    buffer = np.zeros(int(np.ceil(frames * LAYER_RATE_HZ / rate_hz)) + 1, np.float32)
    fade = int(EDGE_FADE_S * LAYER_RATE_HZ)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    for index, section in enumerate(piece.sections):
        audio = section.layers.get(name)
        if audio is None or audio.size == 0:
            continue
        audio = audio.copy()
        if audio.shape[0] > 2 * fade:
            audio[:fade] *= ramp
            audio[-fade:] *= ramp[::-1]
        start = int(round(piece.section_start_s(index) * LAYER_RATE_HZ))
        stop = min(buffer.shape[0], start + audio.shape[0])
        buffer[start:stop] += audio[: stop - start]
    out = resample(buffer, LAYER_RATE_HZ, rate_hz) if rate_hz != LAYER_RATE_HZ else buffer
    return _fit(np.asarray(out, np.float32), frames)


def mix_layers(piece: "Piece", audio: "RenderedAudio", stems: bool) -> "RenderedAudio":
    """The FluidSynth render with the piece's audio layers added under it (and as stems when asked)."""
    from audio_render.render import RenderedAudio

    tracks = layer_tracks(piece)
    if not tracks:
        return audio
    mix = audio.samples.copy()
    frames, channels = mix.shape
    added: dict[str, np.ndarray] = {}
    for track in tracks:
        layer = whole_layer(piece, track.name, frames, audio.sample_rate_hz)
        playing = np.abs(layer) > 1e-4
        if not playing.any():
            continue
        mix_rms = float(np.sqrt(np.mean(np.square(audio.samples[playing])))) or 1e-3
        layer_rms = float(np.sqrt(np.mean(np.square(layer[playing])))) or 1e-3
        gain = min(MAX_LAYER_GAIN, LAYER_LEVEL * mix_rms / layer_rms)
        stem = np.repeat((gain * layer)[:, None], channels, axis=1)
        mix += stem
        added[f"{STEM_PREFIX}{track.name}"] = stem
    peak = float(np.max(np.abs(mix))) if mix.size else 0.0
    if peak > 0.99:
        mix *= 0.99 / peak
    out_stems = dict(audio.stems)
    if stems:
        out_stems.update({name: np.clip(stem, -1.0, 1.0) for name, stem in added.items()})
    return RenderedAudio(mix, audio.sample_rate_hz, out_stems, audio.midi_duration_s)
