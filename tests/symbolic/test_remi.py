"""Serving reads the shipped model without torch and miditok, and generates exactly what the torch path
generates: the stored vocabulary is miditok's, RemiTokenizer.decode reads tokens as miditok does, and a
Composer on numpy weights writes the same MIDI file as one on the torch model, seed for seed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symbolic.attributes import DRUM_PROGRAM, Attributes, Key, NoteTable
from symbolic.checkpoint import TransformerWeights
from symbolic.codec import encode_bars
from symbolic.composer import Composer
from symbolic.decoding import Sampling
from symbolic.midi_io import score_to_clip, table_to_score
from symbolic.remi import RemiTokenizer, save_vocabulary
from symbolic.tokenizer import Vocabulary, load_tokenizer
from tests.symbolic.helpers import scale_tune

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "symbolic" / "pretrained" / "default"


@pytest.fixture(scope="module")
def tokenizers() -> tuple[RemiTokenizer, object]:
    return RemiTokenizer.load(SHIPPED), load_tokenizer(SHIPPED)


def _score_facts(score) -> tuple:
    tracks = [(track.program, track.is_drum, [(n.time, n.duration, n.pitch, n.velocity) for n in track.notes])
              for track in score.tracks]
    meters = [(ts.time, ts.numerator, ts.denominator) for ts in score.time_signatures]
    return score.ticks_per_quarter, tracks, meters


def test_the_stored_vocabulary_is_miditoks(tokenizers, tmp_path: Path) -> None:
    ours, theirs = tokenizers
    assert ours.vocab == theirs.vocab
    assert Vocabulary.of(ours) == Vocabulary.of(theirs)
    save_vocabulary(theirs, tmp_path)  # what training writes beside a new model
    assert (tmp_path / "vocabulary.json").read_text() == (SHIPPED / "vocabulary.json").read_text()


def test_decoding_matches_miditok_on_real_and_random_sequences(tokenizers) -> None:
    ours, theirs = tokenizers
    vocab = Vocabulary.of(ours)
    melody = scale_tune(62, bars=4, notes_per_bar=6)
    kick = NoteTable(np.arange(4) * 3.0, np.full(4, 0.25), np.full(4, 36), np.full(4, DRUM_PROGRAM))
    table = NoteTable(np.concatenate([melody.onset_q * 0.75, kick.onset_q]),
                      np.concatenate([melody.duration_q * 0.75, kick.duration_q]),
                      np.concatenate([melody.pitch, kick.pitch]), np.concatenate([melody.program, kick.program]))
    sequences = []
    for meter in ((6, 8), (3, 4), (2, 2)):
        bars = encode_bars(theirs, vocab, table, meter, 120.0, 5)
        sequences.append([token for bar in bars for token in bar])
    # a meter change inside the stream, a Position before any Bar, a pitch with no duration at the end
    names = ours.vocab
    sequences.append([names["Position_3"], names["Program_40"], names["Pitch_60"], names["Duration_1.0.4"],
                      names["Bar_None"], names["TimeSig_6/8"], names["Position_2"], names["Pitch_62"],
                      names["Duration_0.2.4"], names["Bar_None"], names["TimeSig_3/2"], names["Position_5"],
                      names["Program_-1"], names["PitchDrum_38"], names["Duration_0.1.4"], names["Pitch_64"]])
    rng = np.random.default_rng(0)
    sequences += [rng.integers(0, len(ours), int(rng.integers(1, 300))).tolist() for _ in range(300)]
    structured = [i for name, i in names.items() if name.split("_")[0] in
                  ("Bar", "TimeSig", "Position", "Program", "Pitch", "PitchDrum", "Duration")]
    sequences += [rng.choice(structured, int(rng.integers(1, 300))).tolist() for _ in range(300)]
    for ids in sequences:
        expected = theirs.decode(list(ids))
        got = ours.decode(list(ids))
        assert _score_facts(got) == _score_facts(expected), ids
        assert np.array_equal(score_to_clip(got).table.onset_q, score_to_clip(expected).table.onset_q)


def test_encoding_still_goes_through_miditok(tokenizers) -> None:
    ours, theirs = tokenizers
    score = table_to_score(scale_tune(60, bars=2), (4, 4), 100.0)
    assert list(ours.encode(score).ids) == list(theirs.encode(score).ids)


@pytest.mark.parametrize("request_, seed", [
    (Attributes(bars=4), 7),
    (Attributes(instruments=[40, 32, DRUM_PROGRAM], key=Key(2, "major"), time_signature=(6, 8), bars=3), 11),
])
def test_numpy_weights_generate_what_the_torch_model_generates(request_, seed: int) -> None:
    from symbolic.model import MusicTransformer

    served = Composer.from_pretrained(SHIPPED)
    assert isinstance(served.model, TransformerWeights) and isinstance(served.tokenizer, RemiTokenizer)
    reference = Composer(MusicTransformer.from_pretrained(SHIPPED), load_tokenizer(SHIPPED), served.meta,
                         chord_model=served.chord_model)
    ours, theirs = served.generate(request_, Sampling(seed=seed)), reference.generate(request_, Sampling(seed=seed))
    assert ours.midi == theirs.midi
    assert ours.notes["tokens_sampled"] == theirs.notes["tokens_sampled"]


def test_generating_imports_neither_torch_nor_miditok() -> None:
    probe = (
        "import sys\n"
        "from symbolic.attributes import Attributes\n"
        "from symbolic.composer import Composer\n"
        "from symbolic.decoding import Sampling\n"
        f"composer = Composer.from_pretrained({str(SHIPPED)!r})\n"
        "result = composer.generate(Attributes(bars=2), Sampling(seed=3))\n"
        "assert result.clip.bars == 2 and len(result.clip.table) > 0\n"
        "print(sorted(m for m in ('torch', 'miditok', 'transformers') if m in sys.modules))\n"
    )
    process = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip().splitlines()[-1] == "[]"
