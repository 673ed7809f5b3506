"""A thin, fast binding to libfluidsynth (found and loaded by pyfluidsynth) and a pool of ready synths.

pyfluidsynth's `Synth.get_samples` copies through a bytes buffer into int16; here the hot path writes
float32 straight into numpy arrays (`fluid_synth_write_float` / `fluid_synth_process`), and ctypes
drops the GIL during each call, so two renders on two server threads run on two cores.

A FluidSynth synth is not shared between threads: `SynthPool.acquire` hands one synth to one render at
a time. Loading a SoundFont is the expensive step (FluidR3_GM: ~0.7 s the first time); FluidSynth's own
sample cache shares sample data between synths that load the same file, and the pool keeps idle synths
per (SoundFont, sample rate, layout) so repeated renders skip loading entirely.
"""

from __future__ import annotations

import contextlib
import ctypes as C
import os
import sys
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

# With CI set in the environment, pyfluidsynth prints where it found the library to stdout at import
# time. stdout belongs to the CLI (`ostinato serve` announces its address there), so send it to stderr.
with contextlib.redirect_stdout(sys.stderr):
    import fluidsynth as _pyfluidsynth

from ostinato.errors import InvalidInput, MissingAsset

_lib = _pyfluidsynth._fl  # the CDLL pyfluidsynth located (libfluidsynth.so.3 on Debian)

_VOIDP = C.c_void_p
_INT = C.c_int
_FLOAT = C.c_float
_DOUBLE = C.c_double


def _proto(name: str, restype, *argtypes):
    func = getattr(_lib, name)
    func.restype = restype
    func.argtypes = list(argtypes)
    return func


_new_settings = _proto("new_fluid_settings", _VOIDP)
_delete_settings = _proto("delete_fluid_settings", None, _VOIDP)
_settings_setint = _proto("fluid_settings_setint", _INT, _VOIDP, C.c_char_p, _INT)
_settings_setnum = _proto("fluid_settings_setnum", _INT, _VOIDP, C.c_char_p, _DOUBLE)
_settings_setstr = _proto("fluid_settings_setstr", _INT, _VOIDP, C.c_char_p, C.c_char_p)
_new_synth = _proto("new_fluid_synth", _VOIDP, _VOIDP)
_delete_synth = _proto("delete_fluid_synth", None, _VOIDP)
_sfload = _proto("fluid_synth_sfload", _INT, _VOIDP, C.c_char_p, _INT)
_system_reset = _proto("fluid_synth_system_reset", _INT, _VOIDP)
_set_sample_rate = _proto("fluid_synth_set_sample_rate", None, _VOIDP, _FLOAT)
_set_gain = _proto("fluid_synth_set_gain", None, _VOIDP, _FLOAT)
_set_channel_type = _proto("fluid_synth_set_channel_type", _INT, _VOIDP, _INT, _INT)
_reverb_on = _proto("fluid_synth_reverb_on", _INT, _VOIDP, _INT, _INT)
_chorus_on = _proto("fluid_synth_chorus_on", _INT, _VOIDP, _INT, _INT)
_set_reverb_roomsize = _proto("fluid_synth_set_reverb_group_roomsize", _INT, _VOIDP, _INT, _DOUBLE)
_set_reverb_damp = _proto("fluid_synth_set_reverb_group_damp", _INT, _VOIDP, _INT, _DOUBLE)
_set_reverb_width = _proto("fluid_synth_set_reverb_group_width", _INT, _VOIDP, _INT, _DOUBLE)
_set_reverb_level = _proto("fluid_synth_set_reverb_group_level", _INT, _VOIDP, _INT, _DOUBLE)
_set_chorus_nr = _proto("fluid_synth_set_chorus_group_nr", _INT, _VOIDP, _INT, _INT)
_set_chorus_level = _proto("fluid_synth_set_chorus_group_level", _INT, _VOIDP, _INT, _DOUBLE)
_set_chorus_speed = _proto("fluid_synth_set_chorus_group_speed", _INT, _VOIDP, _INT, _DOUBLE)
_set_chorus_depth = _proto("fluid_synth_set_chorus_group_depth", _INT, _VOIDP, _INT, _DOUBLE)
_write_float = _proto(
    "fluid_synth_write_float", _INT, _VOIDP, _INT, _VOIDP, _INT, _INT, _VOIDP, _INT, _INT
)
_process = _proto(
    "fluid_synth_process", _INT, _VOIDP, _INT, _INT, C.POINTER(_VOIDP), _INT, C.POINTER(_VOIDP)
)
_set_log_function = _proto("fluid_set_log_function", _VOIDP, _INT, _VOIDP, _VOIDP)

# Channel-message entry points, called straight from the event loop (no Python wrapper in between).
noteon = _proto("fluid_synth_noteon", _INT, _VOIDP, _INT, _INT, _INT)
noteoff = _proto("fluid_synth_noteoff", _INT, _VOIDP, _INT, _INT)
control_change = _proto("fluid_synth_cc", _INT, _VOIDP, _INT, _INT, _INT)
pitch_bend = _proto("fluid_synth_pitch_bend", _INT, _VOIDP, _INT, _INT)
program_change = _proto("fluid_synth_program_change", _INT, _VOIDP, _INT, _INT)
channel_pressure = _proto("fluid_synth_channel_pressure", _INT, _VOIDP, _INT, _INT)
key_pressure = _proto("fluid_synth_key_pressure", _INT, _VOIDP, _INT, _INT, _INT)

MAX_MIDI_CHANNELS = 256  # FluidSynth's synth.midi-channels limit
SYNTH_BLOCK_FRAMES = 64  # FLUID_BUFSIZE: events take effect on these boundaries
CHANNEL_TYPE_MELODIC = 0
CHANNEL_TYPE_DRUM = 1
# FluidSynth's defaults, used when a caller leaves an effect parameter unset.
DEFAULT_REVERB = {"room_size": 0.2, "damping": 0.0, "width": 0.5, "level": 0.9}
DEFAULT_CHORUS = {"voices": 3, "level": 2.0, "speed_hz": 0.3, "depth_ms": 8.0}
_LOG_LEVELS = (1, 2, 3, 4)  # FLUID_ERR .. FLUID_DBG; FLUID_PANIC (0) stays on stderr


def _silence_library_log() -> None:
    # FluidSynth logs "No preset found" and similar to stderr from inside renders; failures we care
    # about surface as return codes instead.
    for level in _LOG_LEVELS:
        _set_log_function(level, None, None)


_silence_library_log()


@dataclass(frozen=True)
class SynthLayout:
    """How a synth is built. Fixed at creation, so it is part of the pool key.

    Args:
        sample_rate_hz: output sample rate.
        groups: stereo output groups; MIDI channel n sounds in group n % groups (1 for a plain mix,
            one per stem otherwise), each with its own reverb and chorus unit.
    """

    sample_rate_hz: int
    groups: int = 1

    @property
    def midi_channels(self) -> int:
        return 16 if self.groups == 1 else MAX_MIDI_CHANNELS


class Synth:
    """One FluidSynth instance with one SoundFont loaded. Not thread-safe: one render at a time."""

    def __init__(self, soundfont: Path, layout: SynthLayout, cpu_cores: int = 1) -> None:
        self.soundfont = soundfont
        self.layout = layout
        self._settings = _new_settings()
        setint = lambda key, value: _settings_setint(self._settings, key.encode(), value)  # noqa: E731
        setint("synth.midi-channels", layout.midi_channels)
        setint("synth.audio-channels", layout.groups)
        setint("synth.audio-groups", layout.groups)
        setint("synth.effects-groups", layout.groups)
        # >1 renders voices on extra FluidSynth threads, in batches of blocks between our writes.
        setint("synth.cpu-cores", cpu_cores)
        setint("synth.threadsafe-api", 0)  # the pool guarantees one thread per synth
        setint("synth.lock-memory", 0)  # mlock of a 148 MB SoundFont fails in containers anyway
        setint("synth.reverb.active", 1)
        setint("synth.chorus.active", 1)
        _settings_setnum(self._settings, b"synth.sample-rate", float(layout.sample_rate_hz))
        self.handle = _new_synth(self._settings)
        if not self.handle:
            _delete_settings(self._settings)
            raise MissingAsset("FluidSynth could not create a synthesizer (out of memory?)")
        self._scratch = np.zeros((SYNTH_BLOCK_FRAMES, 2), dtype=np.float32)
        self._sfont_id = _sfload(self.handle, os.fsencode(soundfont), 1)
        if self._sfont_id < 0:
            self.close()
            raise InvalidInput(
                f"FluidSynth could not load the SoundFont {soundfont}: is it a valid .sf2/.sf3 file?"
            )

    def close(self) -> None:
        if self.handle:
            _delete_synth(self.handle)
            self.handle = None
        if self._settings:
            _delete_settings(self._settings)
            self._settings = None

    def reset(self, *, gain: float, reverb: dict | None, chorus: dict | None) -> None:
        """Silences and resets every channel and effect so a render starts from a clean state.

        Args:
            gain: master gain.
            reverb: parameters (DEFAULT_REVERB keys), or None to switch reverb off.
            chorus: parameters (DEFAULT_CHORUS keys), or None to switch chorus off.
        """
        _system_reset(self.handle)
        # Re-setting the rate re-initialises the reverb completely (delay lines and modulation),
        # which system_reset leaves running, so a render does not depend on the one before it.
        # (What remains is FluidSynth's own note-start ramp: the first ~64 frames of a note vary
        # slightly with what its voice played before, below -30 dB.)
        _set_sample_rate(self.handle, float(self.layout.sample_rate_hz))
        _set_gain(self.handle, gain)
        _reverb_on(self.handle, -1, int(reverb is not None))
        _chorus_on(self.handle, -1, int(chorus is not None))
        rv = {**DEFAULT_REVERB, **(reverb or {})}
        _set_reverb_roomsize(self.handle, -1, rv["room_size"])
        _set_reverb_damp(self.handle, -1, rv["damping"])
        _set_reverb_width(self.handle, -1, rv["width"])
        _set_reverb_level(self.handle, -1, rv["level"])
        ch = {**DEFAULT_CHORUS, **(chorus or {})}
        _set_chorus_nr(self.handle, -1, int(ch["voices"]))
        _set_chorus_level(self.handle, -1, ch["level"])
        _set_chorus_speed(self.handle, -1, ch["speed_hz"])
        _set_chorus_depth(self.handle, -1, ch["depth_ms"])
        # The reset reaches the voice mixer as queued events that apply on the next block; render
        # that block and throw it away so nothing of a previous render leaks into this one.
        self.write_interleaved(self._scratch, 0, SYNTH_BLOCK_FRAMES)

    def set_channel_type(self, channel: int, drum: bool) -> None:
        """Makes a synth channel a drum (bank 128) or melodic channel and selects program 0 on it."""
        _set_channel_type(self.handle, channel, CHANNEL_TYPE_DRUM if drum else CHANNEL_TYPE_MELODIC)
        program_change(self.handle, channel, 0)

    def write_interleaved(self, out: np.ndarray, start: int, stop: int) -> None:
        """Renders frames [start, stop) of `out` (float32, C-contiguous (frames, 2)), effects included."""
        n = stop - start
        if n <= 0:
            return
        base = out.ctypes.data + start * 8
        if _write_float(self.handle, n, base, 0, 2, base, 1, 2) != 0:
            raise RuntimeError("fluid_synth_write_float failed")

    def process_groups(self, out: np.ndarray, start: int, stop: int) -> None:
        """Adds frames [start, stop) of every group to `out` (float32 (groups, 2, frames), zeroed).

        Each group's reverb and chorus go to the group's own buffers, so summing the groups gives
        the full mix.
        """
        n = stop - start
        if n <= 0:
            return
        groups = self.layout.groups
        base = out.ctypes.data + start * 4
        frame_stride = out.strides[1]
        group_stride = out.strides[0]
        dry = (_VOIDP * (2 * groups))(
            *[base + g * group_stride + c * frame_stride for g in range(groups) for c in range(2)]
        )
        # Per group: reverb L/R then chorus L/R, all into the group's dry buffers.
        fx = (_VOIDP * (4 * groups))(
            *[
                base + g * group_stride + c * frame_stride
                for g in range(groups)
                for _unit in range(2)
                for c in range(2)
            ]
        )
        if _process(self.handle, n, 4 * groups, fx, 2 * groups, dry) != 0:
            raise RuntimeError("fluid_synth_process failed")


class SynthPool:
    """Idle synths keyed by (SoundFont file, its mtime, layout); thread-safe.

    Args:
        max_idle_per_key: synths kept per key (one per core is plenty).
        max_keys: distinct SoundFont/layout combinations kept before the least recently used is freed.
        cpu_cores: threads each synth renders voices on (FluidSynth's synth.cpu-cores).
    """

    def __init__(self, max_idle_per_key: int = 2, max_keys: int = 6, cpu_cores: int = 1) -> None:
        self._cpu_cores = max(1, cpu_cores)
        self._lock = threading.Lock()
        self._idle: OrderedDict[tuple, list[Synth]] = OrderedDict()
        self._max_idle_per_key = max_idle_per_key
        self._max_keys = max_keys

    @staticmethod
    def _key(soundfont: Path, layout: SynthLayout) -> tuple:
        stat = soundfont.stat()
        return (str(soundfont), stat.st_mtime_ns, stat.st_size, layout)

    @contextmanager
    def acquire(self, soundfont: Path, layout: SynthLayout) -> Iterator[Synth]:
        """Yields a synth with `soundfont` loaded; it returns to the pool afterwards."""
        try:
            key = self._key(soundfont, layout)
        except OSError as exc:
            raise MissingAsset(f"SoundFont {soundfont} cannot be read: {exc.strerror}") from exc
        synth = None
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                synth = idle.pop()
                self._idle.move_to_end(key)
        if synth is None:
            # fluid_synth_process (stems) hands the extra threads one 64-frame block at a time,
            # which made multi-core stem renders ~4-10x slower than single-core ones.
            synth = Synth(soundfont, layout, self._cpu_cores if layout.groups == 1 else 1)
        healthy = False
        try:
            yield synth
            healthy = True
        finally:
            if healthy:
                self._release(key, synth)
            else:
                # An interrupted render may leave voices or half-written state: do not reuse it.
                synth.close()

    def _release(self, key: tuple, synth: Synth) -> None:
        evicted: list[Synth] = []
        with self._lock:
            idle = self._idle.setdefault(key, [])
            self._idle.move_to_end(key)
            if len(idle) < self._max_idle_per_key:
                idle.append(synth)
            else:
                evicted.append(synth)
            while len(self._idle) > self._max_keys:
                _, old = self._idle.popitem(last=False)
                evicted.extend(old)
        for old_synth in evicted:
            old_synth.close()

    def preload(self, soundfont: Path, layout: SynthLayout) -> None:
        """Loads `soundfont` into an idle synth now, so the first request does not pay for it."""
        with self.acquire(soundfont, layout):
            pass

    def close(self) -> None:
        with self._lock:
            synths = [s for idle in self._idle.values() for s in idle]
            self._idle.clear()
        for synth in synths:
            synth.close()


_default_pool: SynthPool | None = None
_default_pool_lock = threading.Lock()


DEFAULT_CPU_CORES = min(2, os.cpu_count() or 1)


def configure_default_pool(cpu_cores: int) -> None:
    """Replaces the process-wide pool (idle synths are freed) with one whose synths use `cpu_cores`."""
    global _default_pool
    with _default_pool_lock:
        old, _default_pool = _default_pool, SynthPool(cpu_cores=cpu_cores)
    if old is not None:
        old.close()


def default_pool() -> SynthPool:
    """The process-wide pool (SoundFonts are process-wide resources, like the library itself).

    Its synths render on up to two cores: on a 30 s four-track file that cut wall time by a quarter
    to a third on a busy 2-core machine, for ~5% more CPU time.
    """
    global _default_pool
    with _default_pool_lock:
        if _default_pool is None:
            _default_pool = SynthPool(cpu_cores=DEFAULT_CPU_CORES)
        return _default_pool
