"""A learned beat and downbeat tracker: a small network's beat activation, decoded over tempo and phase.

The network (`BeatNet`, ~40 k parameters) reads log-mel frames (62.5 per second) through two small 2-D
convolutions and a stack of dilated 1-D convolutions (a TCN reaching about 16 s either side) and gives
two activations per frame: "a beat is here" and "a bar starts here". It was trained by
`python -m audio_render.accompanist.train.beat_train` on FluidSynth renders of POP909's training songs
(annotated beats) and of click tracks, at tempi from 55 to 200 bpm.

The decoder is a hidden Markov model over (beat period, position inside the beat), after the bar-pointer
models of Whiteley et al. and Krebs et al.: the position advances one frame at a time, and at each beat
the period may change, cheaply by a few percent (tempo drift), dearly but not impossibly by more (a
tempo change). Every period from MIN_BPM to MAX_BPM starts equally likely, so there is no tempo prior:
which metrical level is the beat comes from the activation alone (a path at half the tempo misses every
other activation peak, a path at double tempo lands on frames the network says are not beats).
Downbeats: a 4-state Viterbi over the bar position of each tracked beat, on the downbeat activation.

    tracker = BeatTracker.from_pretrained()
    grid = tracker.track(mono, sample_rate_hz)       # a beats.BeatGrid
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

PRETRAINED_BEATS_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "beats"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TARGET_RMS = 0.08
BEATS_PER_BAR = 4


@dataclass
class BeatConfig:
    """Everything that defines the tracker's features, network and decoder (saved beside its weights)."""

    sample_rate_hz: int = 16_000
    hop_length: int = 256
    n_fft: int = 1024
    n_mels: int = 48
    fmin_hz: float = 30.0
    fmax_hz: float = 8_000.0
    feature_mean: float = 0.0  # of log-mel over the training data, so the network sees ~unit scale
    feature_std: float = 1.0
    conv_channels: int = 16
    channels: int = 32
    kernel: int = 5
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    dropout: float = 0.1
    min_bpm: float = 50.0
    max_bpm: float = 215.0
    upsample: int = 2  # the decoder runs at upsample x the frame rate (finer beat periods)
    tempo_change_lambda: float = 100.0  # madmom's transition_lambda: cost of a relative period change
    tempo_jump_floor: float = 1e-7  # least probability of any period change (a sudden tempo change)
    observation_lambda: float = 16.0  # the first 1/lambda of each beat period is "on the beat"
    downbeat_switch: float = 0.02  # probability that a bar is cut short or extended at a beat
    trained: dict = field(default_factory=dict)

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate_hz / self.hop_length

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "BeatConfig":
        values = json.loads(text)
        values["dilations"] = tuple(values["dilations"])
        return cls(**{key: value for key, value in values.items() if key in cls.__dataclass_fields__})


def beat_features(mono: np.ndarray, sample_rate_hz: int, config: BeatConfig) -> np.ndarray:
    """Normalised log-mel frames (n_mels, frames) of mono float audio; frame t is centred on t * hop.

    Args:
        mono: float samples (samples,), any rate (resampled to config.sample_rate_hz).
        sample_rate_hz: their rate.
        config: the tracker's config (feature settings and normalisation).
    """
    import librosa

    from audio_render.chroma import resample

    mono = resample(np.asarray(mono, dtype=np.float32), sample_rate_hz, config.sample_rate_hz)
    rms = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) if mono.size else 0.0
    if rms > 1e-5:
        mono = mono * np.float32(TARGET_RMS / rms)
    mel = librosa.feature.melspectrogram(y=mono, sr=config.sample_rate_hz, n_fft=config.n_fft,
                                         hop_length=config.hop_length, n_mels=config.n_mels, fmin=config.fmin_hz,
                                         fmax=config.fmax_hz)
    return ((np.log(mel + 1e-6) - config.feature_mean) / config.feature_std).astype(np.float32)


def make_net(config: BeatConfig):
    """The torch network of `config` (torch imported here: serving loads it only with the tracker)."""
    import torch
    from torch import nn

    class TemporalBlock(nn.Module):
        def __init__(self, channels: int, kernel: int, dilation: int, dropout: float):
            super().__init__()
            self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)
            self.mix = nn.Conv1d(channels, channels, 1)
            self.drop = nn.Dropout(dropout)

        def forward(self, x):
            return x + self.mix(self.drop(nn.functional.elu(self.conv(x))))

    class BeatNet(nn.Module):
        """(batch, n_mels, frames) log-mel -> (batch, 2, frames) logits: beat, downbeat."""

        def __init__(self):
            super().__init__()
            c = config.conv_channels
            self.conv1 = nn.Conv2d(2, c, 3, padding=1)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1)
            bands = config.n_mels // 4 // 4
            self.project = nn.Conv1d(c * bands, config.channels, 1)
            self.blocks = nn.ModuleList(TemporalBlock(config.channels, config.kernel, d, config.dropout)
                                        for d in config.dilations)
            self.drop = nn.Dropout(config.dropout)
            self.head = nn.Conv1d(config.channels, 2, 1)

        def forward(self, mel):
            flux = torch.relu(mel - nn.functional.pad(mel, (1, 0))[..., :-1])
            x = torch.stack([mel, flux], dim=1)  # (B, 2, F, T)
            x = nn.functional.max_pool2d(nn.functional.elu(self.conv1(x)), (4, 1))
            x = nn.functional.max_pool2d(nn.functional.elu(self.conv2(x)), (4, 1))
            x = self.drop(self.project(x.flatten(1, 2)))
            for block in self.blocks:
                x = block(x)
            return self.head(x)

    return BeatNet()


# ------------------------------------------------------------------------------------------ decoding
def decode_beats(activation: np.ndarray, frame_rate_hz: float, config: BeatConfig) -> np.ndarray:
    """Beat times (s) from a beat activation (frames,) in [0, 1]: Viterbi over beat period and phase.

    Args:
        activation: per-frame beat probability.
        frame_rate_hz: its frame rate.
        config: decoder settings (tempo range, tempo-change costs, observation lambda, upsampling).
    """
    if activation.size < 4 or float(activation.max()) < 0.05:
        return np.zeros(0)
    up = max(1, int(config.upsample))
    fps = frame_rate_hz * up
    fine = np.interp(np.arange(activation.size * up) / up, np.arange(activation.size), activation)
    fine = np.clip(fine, 1e-6, 1 - 1e-6)
    periods = np.arange(int(np.floor(60 * fps / config.max_bpm)), int(np.ceil(60 * fps / config.min_bpm)) + 1)
    starts = np.r_[0, np.cumsum(periods)[:-1]]
    ends = starts + periods - 1
    states = int(periods.sum())
    position = np.arange(states) - np.repeat(starts, periods)
    on_beat = position < np.maximum(1, np.repeat(periods, periods) / config.observation_lambda)
    ratio = periods[None, :] / periods[:, None]
    transition = np.exp(-config.tempo_change_lambda * np.abs(ratio - 1))
    transition = np.maximum(transition / transition.sum(axis=1, keepdims=True), config.tempo_jump_floor)
    log_transition = np.log(transition / transition.sum(axis=1, keepdims=True))
    log_other = np.log((1 - fine) / (config.observation_lambda - 1))
    beat_gain = np.log(fine) - log_other  # added to the on-beat states only
    beat_states = np.flatnonzero(on_beat)
    score = np.full(states, log_other[0] - np.log(states))
    score[beat_states] += beat_gain[0]
    frames = fine.size
    came_from = np.zeros((frames, periods.size), dtype=np.int16)
    columns = np.arange(periods.size)
    shifted = np.empty_like(score)
    for t in range(1, frames):
        candidates = score[ends][:, None] + log_transition
        best = candidates.argmax(axis=0)
        came_from[t] = best
        shifted[1:] = score[:-1]
        shifted[starts] = candidates[best, columns]
        shifted[beat_states] += beat_gain[t]
        shifted += log_other[t] - shifted.max()
        score, shifted = shifted, score
    # Backtrack: inside a beat the state steps back one position; at a beat start, to the end of the
    # period it came from. Each beat is then placed on the activation's peak inside its on-beat region.
    state = int(score.argmax())
    interval = int(np.searchsorted(starts, state, side="right") - 1)
    beat_regions = []
    for t in range(frames - 1, -1, -1):
        if state == starts[interval]:
            beat_regions.append((t, t + max(1.0, periods[interval] / config.observation_lambda)))
            if t > 0:
                interval = int(came_from[t, interval])
                state = int(ends[interval])
        else:
            state -= 1
    return _peaks(beat_regions[::-1], activation, up) / frame_rate_hz


def _peaks(regions: list[tuple[int, float]], activation: np.ndarray, up: int) -> np.ndarray:
    """Frame of the activation's peak inside each (first, last) fine-frame region, parabolically refined."""
    out = []
    for first, last in regions:
        lo, hi = int(np.floor(first / up)), min(activation.size, int(np.ceil(last / up)) + 1)
        if hi <= lo:
            continue
        peak = lo + int(np.argmax(activation[lo:hi]))
        delta = 0.0
        if 0 < peak < activation.size - 1:
            a, b, c = activation[peak - 1 : peak + 2]
            denominator = a - 2 * b + c
            if denominator < 0:
                delta = float(np.clip(0.5 * (a - c) / denominator, -0.5, 0.5))
        out.append(peak + delta)
    return np.unique(np.round(np.array(out), 3)) if out else np.zeros(0)


def decode_downbeats(beat_times_s: np.ndarray, downbeat_activation: np.ndarray, frame_rate_hz: float,
                     switch: float = 0.02, beats_per_bar: int = BEATS_PER_BAR) -> np.ndarray:
    """Which tracked beats start a bar: Viterbi over the bar position of each beat.

    The position advances by one each beat; with probability `switch` a bar is cut short or extended
    (a pickup, a 2/4 bar), so a phrase that shifts the downbeat does not drag the whole grid."""
    count = beat_times_s.size
    if count == 0:
        return np.zeros(0, bool)
    frames = np.clip(np.rint(beat_times_s * frame_rate_hz).astype(int), 0, downbeat_activation.size - 1)
    strength = np.array([downbeat_activation[max(0, f - 2) : f + 3].max() for f in frames])
    strength = np.clip(strength, 1e-4, 1 - 1e-4)
    emission = np.log(np.where(np.arange(beats_per_bar)[None, :] == 0, strength[:, None], 1 - strength[:, None]))
    stay = np.full((beats_per_bar, beats_per_bar), np.log(switch / (beats_per_bar - 1)))
    for p in range(beats_per_bar):
        stay[p, (p + 1) % beats_per_bar] = np.log(1 - switch)
    score = emission[0].copy()
    came_from = np.zeros((count, beats_per_bar), dtype=int)
    for k in range(1, count):
        candidates = score[:, None] + stay
        came_from[k] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + emission[k]
    path = np.zeros(count, dtype=int)
    path[-1] = int(score.argmax())
    for k in range(count - 1, 0, -1):
        path[k - 1] = came_from[k, path[k]]
    return path == 0


# ------------------------------------------------------------------------------------------ the tracker
class BeatTracker:
    """The trained network and its decoder."""

    def __init__(self, net, config: BeatConfig):
        self.net = net.eval()
        self.config = config

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def save_pretrained(self, directory: str | Path) -> None:
        from audio_render.accompanist.network import write_net  # torch loads with the model, not this module

        write_net(directory, self.config.to_json(), self.net)

    @classmethod
    def from_pretrained(cls, directory: str | Path = PRETRAINED_BEATS_DIR) -> "BeatTracker":
        from safetensors.torch import load_file

        from ostinato.errors import MissingAsset

        directory = Path(directory)
        if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
            raise MissingAsset(f"no beat tracker in {directory} (expected {CONFIG_NAME} and {WEIGHTS_NAME})")
        config = BeatConfig.from_json((directory / CONFIG_NAME).read_text())
        net = make_net(config)
        net.load_state_dict(load_file(str(directory / WEIGHTS_NAME)))
        return cls(net, config)

    def activations(self, mono: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame (beat, downbeat) probabilities at config.frame_rate_hz."""
        import torch

        features = beat_features(mono, sample_rate_hz, self.config)
        with torch.inference_mode():
            logits = self.net(torch.from_numpy(features)[None])[0]
        probabilities = torch.sigmoid(logits).numpy().astype(np.float64)
        return probabilities[0], probabilities[1]

    def track(self, mono: np.ndarray, sample_rate_hz: int):
        """A beats.BeatGrid of mono float audio (no beats in silence)."""
        from audio_render.accompanist.beats import BeatGrid

        mono = np.asarray(mono, dtype=np.float32)
        if mono.size == 0 or float(np.max(np.abs(mono))) < 1e-5:
            return BeatGrid(np.zeros(0), np.zeros(0, bool))
        beat, downbeat = self.activations(mono, sample_rate_hz)
        times = decode_beats(beat, self.config.frame_rate_hz, self.config)
        return BeatGrid(times, decode_downbeats(times, downbeat, self.config.frame_rate_hz, self.config.downbeat_switch))
