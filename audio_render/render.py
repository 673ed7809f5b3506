"""MIDI -> audio with FluidSynth, offline: whole files or streamed block by block.

Usage (for other packages; everything is float32 in [-1, 1], shape (frames, channels)):

    from audio_render.render import RenderOptions, render_midi, iter_render
    from audio_render.soundfonts import TIMGM6MB
    opts = RenderOptions(soundfont=TIMGM6MB, sample_rate_hz=32_000, channels=1)
    audio = render_midi(midi_bytes, opts)           # RenderedAudio
    audio.samples.shape, audio.sample_rate_hz       # (frames, 1), 32000
    stream = iter_render(midi_bytes, opts)          # parses now: bad MIDI raises InvalidInput here
    stream.total_frames                             # known before the first block
    for block in stream: block.start_frame, block.mix   # (n, 1) blocks in playback order
    RenderOptions(stems=True) -> audio.stems {"1:Piano": array, ...}, each as long as the mix.

Events are driven from the parsed file (tempo map, programs per channel, drums on channel 10, pitch
bend, sustain and other controllers, velocity); the synth's own float output is written straight into
numpy buffers, block by block, with no audio device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from audio_render import fluid
from audio_render.midi_events import (
    DRUM_CHANNEL,
    KIND_CHANNEL_PRESSURE,
    KIND_CONTROL,
    KIND_KEY_PRESSURE,
    KIND_NOTE_OFF,
    KIND_NOTE_ON,
    KIND_PITCH_BEND,
    KIND_PROGRAM,
    MidiTimeline,
    parse_midi,
)
from audio_render.soundfonts import DEFAULT_SOUNDFONT, SYSTEM_SOUNDFONT_DIRS, resolve_soundfont
from ostinato.errors import InvalidInput, LimitExceeded
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn

MIN_SAMPLE_RATE_HZ = 8_000
MAX_SAMPLE_RATE_HZ = 96_000
MAX_STEMS = 128  # FluidSynth's limit on output groups


@dataclass(frozen=True)
class ReverbSettings:
    """FluidSynth reverb; a None field keeps FluidSynth's default (fluid.DEFAULT_REVERB)."""

    room_size: float | None = None
    damping: float | None = None
    width: float | None = None
    level: float | None = None

    def as_params(self) -> dict:
        given = {"room_size": self.room_size, "damping": self.damping, "width": self.width, "level": self.level}
        return {k: float(v) for k, v in given.items() if v is not None}


@dataclass(frozen=True)
class ChorusSettings:
    """FluidSynth chorus; a None field keeps FluidSynth's default (fluid.DEFAULT_CHORUS)."""

    voices: int | None = None
    level: float | None = None
    speed_hz: float | None = None
    depth_ms: float | None = None

    def as_params(self) -> dict:
        given = {"voices": self.voices, "level": self.level, "speed_hz": self.speed_hz, "depth_ms": self.depth_ms}
        return {k: v for k, v in given.items() if v is not None}


@dataclass(frozen=True)
class RenderOptions:
    """How to render.

    Args:
        soundfont: a .sf2/.sf3 path or a SoundFont name found in `soundfont_dirs`.
        sample_rate_hz: 8,000-96,000.
        channels: 1 (mono, (L+R)/2) or 2.
        gain: FluidSynth master gain, 0-10.
        tail_s: seconds rendered after the MIDI ends, for releases and reverb.
        reverb: reverb settings, None for no reverb.
        chorus: chorus settings, None for no chorus.
        stems: also render each track alone (a type-0 file: each channel), same length as the mix.
        block_frames: frames per streamed block.
        max_duration_s: refuse (LimitExceeded) to render more audio than this; None for no limit.
        soundfont_dirs: where SoundFont names are looked up.
    """

    soundfont: str | Path = DEFAULT_SOUNDFONT
    sample_rate_hz: int = 44_100
    channels: int = 2
    gain: float = 0.5
    tail_s: float = 2.0
    reverb: ReverbSettings | None = field(default_factory=ReverbSettings)
    chorus: ChorusSettings | None = field(default_factory=ChorusSettings)
    stems: bool = False
    block_frames: int = 16_384
    max_duration_s: float | None = None
    soundfont_dirs: Sequence[Path] = SYSTEM_SOUNDFONT_DIRS

    def validate(self) -> None:
        """Raises InvalidInput naming the first bad field."""
        if not MIN_SAMPLE_RATE_HZ <= self.sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
            raise InvalidInput(
                f"sample_rate_hz must be {MIN_SAMPLE_RATE_HZ:,}-{MAX_SAMPLE_RATE_HZ:,}, got {self.sample_rate_hz}."
            )
        if self.channels not in (1, 2):
            raise InvalidInput(f"channels must be 1 (mono) or 2 (stereo), got {self.channels}.")
        if not 0.0 <= self.gain <= 10.0 or math.isnan(self.gain):
            raise InvalidInput(f"gain must be 0-10, got {self.gain}.")
        if not 0.0 <= self.tail_s <= 60.0:
            raise InvalidInput(f"tail_s must be 0-60 seconds, got {self.tail_s}.")
        if self.block_frames < 64:
            raise InvalidInput(f"block_frames must be at least 64, got {self.block_frames}.")


@dataclass
class RenderedAudio:
    """Rendered audio.

    Args:
        samples: float32 (frames, channels) mix.
        sample_rate_hz: sample rate of `samples` and every stem.
        stems: stem name ("<track>:<name>") -> float32 (frames, channels), when asked for.
        midi_duration_s: length of the MIDI file itself (samples also hold the tail).
    """

    samples: np.ndarray
    sample_rate_hz: int
    stems: dict[str, np.ndarray] = field(default_factory=dict)
    midi_duration_s: float = 0.0

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate_hz

    @property
    def peak(self) -> float:
        return float(np.max(np.abs(self.samples))) if self.samples.size else 0.0


@dataclass
class RenderBlock:
    """A block of a streamed render: frames [start_frame, start_frame + len(mix)) of the mix and stems."""

    start_frame: int
    mix: np.ndarray
    stems: dict[str, np.ndarray] | None = None
    last: bool = False


def _event_tuples(timeline: MidiTimeline, sample_rate_hz: int, slot_of: dict | None) -> list[tuple]:
    """(frame, ctypes function, args...) per synth call, in playback order.

    `slot_of` maps (part, channel) to a synth channel when stems are rendered; None plays channels
    as they are.
    """
    frames = np.rint(timeline.time_s * sample_rate_hz).astype(np.int64).tolist()
    kinds = timeline.kind.tolist()
    chans = timeline.channel.tolist()
    d1s = timeline.data1.tolist()
    d2s = timeline.data2.tolist()
    parts = timeline.part.tolist()
    broadcast: dict[int, list[int]] = {}
    if slot_of is not None:
        for (_, ch), slot in slot_of.items():
            broadcast.setdefault(ch, []).append(slot)
    out: list[tuple] = []
    append = out.append
    for frame, kind, ch, d1, d2, part in zip(frames, kinds, chans, d1s, d2s, parts):
        if slot_of is None:
            targets = (ch,)
        elif part >= 0:
            targets = (slot_of[(part, ch)],)
        else:
            targets = broadcast.get(ch, ())
        for target in targets:
            if kind == KIND_NOTE_ON:
                append((frame, fluid.noteon, target, d1, d2))
            elif kind == KIND_NOTE_OFF:
                append((frame, fluid.noteoff, target, d1))
            elif kind == KIND_CONTROL:
                append((frame, fluid.control_change, target, d1, d2))
            elif kind == KIND_PROGRAM:
                append((frame, fluid.program_change, target, d1))
            elif kind == KIND_PITCH_BEND:
                append((frame, fluid.pitch_bend, target, d1))
            elif kind == KIND_CHANNEL_PRESSURE:
                append((frame, fluid.channel_pressure, target, d1))
            elif kind == KIND_KEY_PRESSURE:
                append((frame, fluid.key_pressure, target, d1, d2))
    return out


def _stem_slots(timeline: MidiTimeline, groups: int) -> dict[tuple[int, int], int]:
    """Synth channel for each (part, MIDI channel): part p sounds in output group p."""
    slots: dict[tuple[int, int], int] = {}
    for p, info in enumerate(timeline.parts):
        for k, ch in enumerate(info.channels):
            slots[(p, ch)] = k * groups + p  # k * groups + p == p (mod groups)
    return slots


def _groups_for(stem_count: int) -> int:
    # Each group costs a reverb and a chorus unit per block, so round up only a little; a few fixed
    # sizes keep the number of pooled synth layouts small.
    for size in (2, 4, 8, 16, 32, 64, 128):
        if stem_count <= size:
            return size
    return MAX_STEMS


class RenderStream:
    """A render in progress: parsed and validated on creation, rendered while iterated.

    Attributes:
        total_frames: frames the mix (and each stem) will have.
        stem_names: names of the stems that each block carries (empty unless options.stems).
        timeline: the parsed MIDI.
    """

    def __init__(
        self,
        midi_bytes: bytes,
        options: RenderOptions,
        *,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
        pool: fluid.SynthPool | None = None,
    ) -> None:
        options.validate()
        self.options = options
        self.sample_rate_hz = options.sample_rate_hz
        self.channels = options.channels
        self._progress = progress
        self._cancel = cancel
        self._pool = pool or fluid.default_pool()
        self.soundfont = resolve_soundfont(options.soundfont, options.soundfont_dirs)
        self.timeline = parse_midi(midi_bytes)
        if not any(part.note_count for part in self.timeline.parts):
            raise InvalidInput("The MIDI file has no notes: there is nothing to render.")
        self.midi_duration_s = self.timeline.duration_s
        duration_s = self.timeline.duration_s + options.tail_s
        if options.max_duration_s is not None and duration_s > options.max_duration_s:
            raise LimitExceeded("rendered audio length (MIDI + tail)", round(duration_s, 1), options.max_duration_s, "s")
        self.total_frames = int(math.ceil(duration_s * options.sample_rate_hz))
        parts = self.timeline.parts
        if options.stems and len(parts) > MAX_STEMS:
            raise LimitExceeded("stems (tracks with notes)", len(parts), MAX_STEMS)
        if options.stems and parts:
            widest = max(len(p.channels) for p in parts)
            if widest * _groups_for(len(parts)) > fluid.MAX_MIDI_CHANNELS:
                raise LimitExceeded(
                    f"stems: {len(parts)} tracks, one using {widest} MIDI channels; "
                    "synth channels needed", widest * _groups_for(len(parts)), fluid.MAX_MIDI_CHANNELS
                )
        self.stem_names = [p.stem_name for p in parts] if options.stems else []
        self._started = False

    def __iter__(self) -> Iterator[RenderBlock]:
        if self._started:
            raise RuntimeError("a RenderStream can be iterated only once")
        self._started = True
        if self.options.stems and self.stem_names:
            return self._render_stems()
        return self._render_mix()

    def _notify(self, frames_done: int) -> None:
        if self._progress is None:
            return
        fraction = min(1.0, frames_done / max(1, self.total_frames))
        t = frames_done / self.sample_rate_hz
        if t <= self.timeline.duration_s:
            message = f"bar {self.timeline.bar_at(t)} of {self.timeline.bar_count}"
        else:
            message = "release tail"
        self._progress(ProgressEvent("render", fraction, message))

    def _reset(self, synth: fluid.Synth) -> None:
        opts = self.options
        synth.reset(
            gain=opts.gain,
            reverb=None if opts.reverb is None else opts.reverb.as_params(),
            chorus=None if opts.chorus is None else opts.chorus.as_params(),
        )

    def _blocks(self, events: list[tuple], render_span, handle) -> Iterator[tuple[int, int]]:
        """Plays `events` while rendering; yields (start, stop) of each finished block."""
        block = self.options.block_frames
        total = self.total_frames
        n_events = len(events)
        i = 0
        for start in range(0, total, block):
            if self._cancel is not None:
                self._cancel.check()
            stop = min(total, start + block)
            pos = start
            while i < n_events and events[i][0] < stop:
                ev = events[i]
                if ev[0] > pos:
                    render_span(pos - start, ev[0] - start)
                    pos = ev[0]
                ev[1](handle, *ev[2:])
                i += 1
            render_span(pos - start, stop - start)
            yield start, stop
            self._notify(stop)
        # FluidSynth renders in 64-frame blocks and keeps the unread rest of one for the next write:
        # finish on a block boundary so the next render on this (pooled) synth starts at frame 0.
        render_span(0, (-total) % fluid.SYNTH_BLOCK_FRAMES)

    def _render_mix(self) -> Iterator[RenderBlock]:
        layout = fluid.SynthLayout(self.sample_rate_hz, groups=1)
        events = _event_tuples(self.timeline, self.sample_rate_hz, None)
        with self._pool.acquire(self.soundfont, layout) as synth:
            self._reset(synth)
            buf = np.empty((self.options.block_frames, 2), dtype=np.float32)
            render_span = lambda a, b: synth.write_interleaved(buf, a, b)  # noqa: E731
            for start, stop in self._blocks(events, render_span, synth.handle):
                n = stop - start
                yield RenderBlock(start, self._shape(buf[:n]), None, stop == self.total_frames)

    def _render_stems(self) -> Iterator[RenderBlock]:
        groups = _groups_for(len(self.stem_names))
        layout = fluid.SynthLayout(self.sample_rate_hz, groups=groups)
        slots = _stem_slots(self.timeline, groups)
        events = _event_tuples(self.timeline, self.sample_rate_hz, slots)
        with self._pool.acquire(self.soundfont, layout) as synth:
            self._reset(synth)
            for (_, ch), slot in slots.items():
                synth.set_channel_type(slot, drum=ch == DRUM_CHANNEL)
            buf = np.zeros((groups, 2, self.options.block_frames), dtype=np.float32)
            render_span = lambda a, b: synth.process_groups(buf, a, b)  # noqa: E731
            n_stems = len(self.stem_names)
            for start, stop in self._blocks(events, render_span, synth.handle):
                n = stop - start
                planar = buf[:, :, :n]
                mix = self._shape(planar.sum(axis=0).T)
                stems = {
                    name: self._shape(planar[g].T) for g, name in zip(range(n_stems), self.stem_names)
                }
                yield RenderBlock(start, mix, stems, stop == self.total_frames)
                buf.fill(0.0)  # fluid_synth_process adds into its buffers

    def _shape(self, stereo: np.ndarray) -> np.ndarray:
        """A fresh (frames, channels) float32 array from a (frames, 2) view."""
        if self.channels == 1:
            return (0.5 * (stereo[:, 0] + stereo[:, 1]))[:, None].astype(np.float32, copy=False)
        return np.ascontiguousarray(stereo, dtype=np.float32).copy()


def iter_render(
    midi_bytes: bytes,
    options: RenderOptions = RenderOptions(),
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> RenderStream:
    """Starts a streamed render; iterate the result for RenderBlocks in playback order.

    Args:
        midi_bytes: a type-0 or type-1 Standard MIDI File.
        options: see RenderOptions.
        progress: receives ProgressEvent("render", fraction, "bar i of n") after each block.
        cancel: checked before each block.

    Raises (at the call, before any audio):
        InvalidInput: bad MIDI bytes or options. LimitExceeded: longer than options.max_duration_s.
        MissingAsset: the SoundFont is not on this machine.
    Raises while iterating: Cancelled.
    """
    return RenderStream(midi_bytes, options, progress=progress, cancel=cancel)


def render_midi(
    midi_bytes: bytes,
    options: RenderOptions = RenderOptions(),
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> RenderedAudio:
    """Renders a whole MIDI file to memory. Arguments and errors as for iter_render."""
    stream = iter_render(midi_bytes, options, progress=progress, cancel=cancel)
    mix = np.empty((stream.total_frames, stream.channels), dtype=np.float32)
    stems = {name: np.empty_like(mix) for name in stream.stem_names}
    for block in stream:
        stop = block.start_frame + len(block.mix)
        mix[block.start_frame : stop] = block.mix
        for name, audio in (block.stems or {}).items():
            stems[name][block.start_frame : stop] = audio
    return RenderedAudio(mix, stream.sample_rate_hz, stems, stream.midi_duration_s)

