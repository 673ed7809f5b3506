"""Generate, Continue, Infill and DescribeMidi on the Composer, in domain terms.

Each call validates its job, takes the process's one Composer from the model registry and runs it.
The Composer service and the bridge's clip factory both call these. Payload sizes are checked where the
bytes arrive (server.rpc.check_size), before a job is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ostinato.errors import InvalidInput, LimitExceeded
from ostinato.limits import check_attribute_ranges
from ostinato.runtime import CancelToken, ProgressFn
from server.application.models import MODELS, ModelRegistry
from server.application.text import with_text
from server.settings import Settings
from symbolic.attributes import Attributes, extract
from symbolic.decoding import Sampling
from symbolic.editing import SectionChange
from symbolic.midi_io import Clip, midi_to_clip

if TYPE_CHECKING:
    from symbolic.composer import Generated

MAX_CANDIDATES = 8
TEMPERATURE_RANGE = (0.1, 2.0)
MAX_TOP_K = 512


@dataclass
class GenerateJob:
    """A clip from attributes and/or free text (see text.py for how the two merge)."""

    attributes: Attributes = field(default_factory=Attributes)
    text: str = ""
    sampling: Sampling = field(default_factory=Sampling)
    candidates: int = 1  # best-of-N
    chords_midi: bytes = b""  # a clip whose per-bar chords to follow (when attributes.chords is not set)


@dataclass
class ContinueJob:
    primer_midi: bytes
    bars: int
    sampling: Sampling = field(default_factory=Sampling)
    continuation_only: bool = False
    change: SectionChange | None = None  # new key, tempo, meter, density or instruments at the boundary


@dataclass
class InfillJob:
    midi: bytes
    bars: list[int]
    tracks: list[int] = field(default_factory=list)  # empty: every track
    sampling: Sampling = field(default_factory=Sampling)


def check_sampling(sampling: Sampling) -> Sampling:
    """InvalidInput for a temperature or top_k the Composer does not take."""
    low, high = TEMPERATURE_RANGE
    if not low <= sampling.temperature <= high:
        raise InvalidInput(f"temperature {sampling.temperature:g} is outside {low:g}-{high:g}")
    if sampling.top_k > MAX_TOP_K:
        raise InvalidInput(f"top_k must be at most {MAX_TOP_K}")
    return sampling


def check_candidates(candidates: int) -> int:
    """1 for 0 (the default); LimitExceeded above MAX_CANDIDATES."""
    if candidates > MAX_CANDIDATES:
        raise LimitExceeded("candidates", candidates, MAX_CANDIDATES)
    return max(1, int(candidates))


def requested_attributes(job: GenerateJob, settings: Settings) -> Attributes:
    """The attributes a generate job asks for: explicit ones merged with its text's."""
    check_attribute_ranges(job.attributes)  # NaN, infinities, negative sizes, impossible meters
    return with_text(job.attributes, job.text, settings.limits)


def generate(job: GenerateJob, settings: Settings, progress: ProgressFn | None = None,
             cancel: CancelToken | None = None, models: ModelRegistry = MODELS) -> "Generated":
    """A new clip; bars, meter, tempo and instruments hold exactly, key, range and density are steered."""
    attributes = requested_attributes(job, settings)
    if job.chords_midi and not attributes.chords:
        from symbolic.chords import progression_from_midi

        chords, bars = progression_from_midi(job.chords_midi)
        attributes = attributes.copy(chords=chords, bars=attributes.bars or bars)
    sampling = check_sampling(job.sampling)
    candidates = check_candidates(job.candidates)
    return models.composer(settings).generate(attributes, sampling, candidates=candidates, progress=progress,
                                              cancel=cancel)


def continue_clip(job: ContinueJob, settings: Settings, progress: ProgressFn | None = None,
                  cancel: CancelToken | None = None, models: ModelRegistry = MODELS) -> "Generated":
    """The primer followed by `bars` new bars (only the new bars with continuation_only)."""
    sampling = check_sampling(job.sampling)
    return models.composer(settings).continue_clip(job.primer_midi, int(job.bars), sampling,
                                                   continuation_only=job.continuation_only, change=job.change,
                                                   progress=progress, cancel=cancel)


def infill(job: InfillJob, settings: Settings, progress: ProgressFn | None = None,
           cancel: CancelToken | None = None, models: ModelRegistry = MODELS) -> "Generated":
    """The clip with the chosen bars (of the chosen tracks) generated anew."""
    sampling = check_sampling(job.sampling)
    return models.composer(settings).infill(job.midi, list(job.bars), list(job.tracks), sampling,
                                            progress=progress, cancel=cancel)


def describe_midi(midi: bytes) -> tuple[Clip, Attributes]:
    """A MIDI file read once: its clip and the attributes measured on it."""
    clip = midi_to_clip(midi)
    return clip, extract(clip.table, clip.time_signature, clip.tempo_bpm, bars=clip.bars)
