"""Does the text prompt steer the timbre? A measure for the melody model (training-side; not served).

musicgen-melody is judged on text adherence with CLAP, which no installed package ships. This measure
is narrower and self-made: a small timbre classifier, trained in this run on the melody data set's
training clips of six instruments (after a round trip through the model's codec, so it hears the same
lo-fi sound the model makes), names the instrument of each generated clip.

For held-out melodies (tunes the model never saw), the model is asked for each of the six instruments
by name; reported:
- text accuracy: the share of outputs the classifier puts in the instrument the text named (chance 1/6);
- melody-timbre share: the share put in the instrument the melody clip was rendered with (when that is
  one of the six): how often the model keeps the input's timbre instead of the text's;
- ceiling: the classifier's accuracy on held-out clips of the six instruments through the codec.

    nice -n 10 .venv/bin/python -m audio_render.melody.train.text_eval --clips 12
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from audio_render.melody.loading import load_melody_model
from audio_render.melody.model import MelodyRequest

# GM program -> the words the training texts used for it (audio_render.melody.train.prepare.INSTRUMENTS).
FAMILIES = {0: "piano", 19: "church organ", 40: "violin", 56: "trumpet", 73: "flute", 81: "synth lead"}
WINDOW_S = 2.56


def _clips(data: Path, split: str) -> tuple[np.ndarray, list[dict]]:
    audio = np.load(data / f"{split}_audio.npy", mmap_mode="r")
    specs = [json.loads(line) for line in (data / f"{split}_clips.jsonl").read_text().splitlines()]
    return audio, specs


def _features(codec, audio: np.ndarray, rate: int) -> np.ndarray:
    """Per 2.56 s window: mean and spread of the standardised log-mel bands, loudness removed."""
    mel = codec.normalise(codec.log_mel(codec.prepare_audio(audio, rate))).numpy()  # (frames, bands)
    per_window = max(1, int(WINDOW_S * codec.frame_rate_hz))
    rows = []
    for start in range(0, mel.shape[0] - per_window + 1, per_window):
        window = mel[start:start + per_window]
        window = window - window.mean()
        rows.append(np.concatenate([window.mean(axis=0), window.std(axis=0)]))
    return np.array(rows, dtype=np.float32)


def _round_trip(codec, audio: np.ndarray, rate: int) -> np.ndarray:
    return codec.decode(codec.encode(audio, rate))


class TimbreClassifier:
    """Multinomial logistic regression on window features, standardised."""

    def __init__(self, features: np.ndarray, labels: np.ndarray, classes: int, l2: float = 1e-2) -> None:
        self.mean = features.mean(axis=0)
        self.std = features.std(axis=0) + 1e-6
        x = torch.from_numpy((features - self.mean) / self.std)
        y = torch.from_numpy(labels)
        self.linear = torch.nn.Linear(x.shape[1], classes)
        optimiser = torch.optim.LBFGS(self.linear.parameters(), max_iter=300, line_search_fn="strong_wolfe")

        def closure():
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.linear(x), y) + l2 * self.linear.weight.pow(2).sum()
            loss.backward()
            return loss

        optimiser.step(closure)

    @torch.no_grad()
    def predict_clip(self, features: np.ndarray) -> int:
        """The class with the highest mean log-probability over a clip's windows."""
        logits = self.linear(torch.from_numpy((features - self.mean) / self.std))
        return int(torch.log_softmax(logits, dim=-1).mean(dim=0).argmax())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("audio_render/pretrained/melody"))
    parser.add_argument("--data", type=Path, default=Path(".cache/melody/data"))
    parser.add_argument("--clips", type=int, default=12, help="held-out melodies, each asked for all six instruments")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    model = load_melody_model(args.model)
    codec = model.codec
    rate = int(json.loads((args.data / "meta.json").read_text())["sample_rate_hz"])
    programs = list(FAMILIES)

    train_audio, train_specs = _clips(args.data, "train")
    features, labels = [], []
    for index, spec in enumerate(train_specs):
        if spec["program"] in FAMILIES:
            clip = np.asarray(train_audio[index], dtype=np.float32) / 32767.0
            rows = _features(codec, _round_trip(codec, clip, rate), codec.sample_rate_hz)
            features.append(rows)
            labels.extend([programs.index(spec["program"])] * len(rows))
    classifier = TimbreClassifier(np.concatenate(features), np.array(labels, dtype=np.int64), len(programs))
    print(f"classifier: {len(labels)} windows from {len(features)} training clips of {len(programs)} instruments",
          flush=True)

    test_audio, test_specs = _clips(args.data, "test")
    ceiling_hits = ceiling_total = 0
    for index, spec in enumerate(test_specs):
        if spec["program"] in FAMILIES:
            clip = np.asarray(test_audio[index], dtype=np.float32) / 32767.0
            predicted = classifier.predict_clip(_features(codec, _round_trip(codec, clip, rate), codec.sample_rate_hz))
            ceiling_hits += predicted == programs.index(spec["program"])
            ceiling_total += 1

    confusion = np.zeros((len(programs), len(programs)), dtype=int)  # asked x heard
    melody_timbre = melody_timbre_total = 0
    count = min(args.clips, len(test_specs))
    for index in range(count):
        melody = np.asarray(test_audio[index], dtype=np.float32) / 32767.0
        own = test_specs[index]["program"]
        for asked, program in enumerate(programs):
            request = MelodyRequest(text=f"solo {FAMILIES[program]}", duration_s=args.seconds, seed=index)
            output = np.concatenate([piece.samples for piece in model.generate(melody, rate, request)])
            heard = classifier.predict_clip(_features(codec, output, model.info.sample_rate_hz))
            confusion[asked, heard] += 1
            if own in FAMILIES and own != program:
                melody_timbre += heard == programs.index(own)
                melody_timbre_total += 1
        print(f"melody {index} ({test_specs[index]['text'][:40]}...): heard "
              f"{[FAMILIES[programs[h]] for h in confusion.argmax(axis=1)]} so far", flush=True)
    total = int(confusion.sum())
    report = {
        "model": model.info.name,
        "instruments": [FAMILIES[p] for p in programs],
        "held_out_melodies": count,
        "generations": total,
        "text_accuracy": float(np.trace(confusion) / total),
        "chance": 1.0 / len(programs),
        "melody_timbre_share": melody_timbre / melody_timbre_total if melody_timbre_total else None,
        "classifier_ceiling_on_codec_round_trip": ceiling_hits / ceiling_total if ceiling_total else None,
        "ceiling_clips": ceiling_total,
        "confusion_asked_by_heard": confusion.tolist(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
