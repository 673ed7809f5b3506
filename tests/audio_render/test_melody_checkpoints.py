"""Published-checkpoint paths: a tiny random MusicGen-melody saved in the transformers layout and in
audiocraft's layout loads through `load_melody_model` and gives identical tokens for a fixed seed; our
sampler agrees with transformers' own greedy `generate` on the same weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audio_render.melody.audiocraft_convert import save_audiocraft
from audio_render.melody.loading import detect_layout, load_melody_model
from audio_render.melody.model import MelodyRequest
from audio_render.melody.sampler import SamplingParams
from audio_render.melody.text import minilm_path
from ostinato.errors import MissingAsset

LM_YAML = "transformer_lm:\n  num_heads: 2\ndataset:\n  segment_duration: 1.0\nchannels: 1\n"
CODEC_YAML = "sample_rate: 32000\nseanet:\n  dimension: 16\n  n_filters: 4\n  ratios: [8, 5, 4, 4]\n  true_skip: true\n  lstm: 2\n"


def tiny_model():
    from transformers import (
        AutoTokenizer,
        EncodecConfig,
        EncodecModel,
        MusicgenMelodyDecoderConfig,
        MusicgenMelodyForCausalLM,
        MusicgenMelodyForConditionalGeneration,
        T5Config,
        T5EncoderModel,
    )

    torch.manual_seed(1234)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)
    text_encoder = T5EncoderModel(
        T5Config(vocab_size=tokenizer.vocab_size, d_model=24, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    )
    audio_encoder = EncodecModel(
        EncodecConfig(
            sampling_rate=32000, hidden_size=16, num_filters=4, upsampling_ratios=[8, 5, 4, 4], codebook_size=64,
            codebook_dim=16, use_conv_shortcut=False, num_lstm_layers=2, use_causal_conv=False,
            target_bandwidths=[2.2], normalize=False,
        )
    )
    decoder = MusicgenMelodyForCausalLM(
        MusicgenMelodyDecoderConfig(
            vocab_size=64, num_hidden_layers=2, ffn_dim=64, num_attention_heads=2, hidden_size=32, num_codebooks=4,
            pad_token_id=64, bos_token_id=64,
        )
    )
    for parameter in decoder.parameters():  # larger than the default init, so that tokens vary
        parameter.data.normal_(0.0, 0.2)
    model = MusicgenMelodyForConditionalGeneration(text_encoder=text_encoder, audio_encoder=audio_encoder, decoder=decoder)
    model.config.chroma_length = 8  # ceil(1 s * 7.8125 frames/s), as the converter derives it
    generation = model.generation_config
    generation.max_length = 54  # a 1 s window at 50 Hz, plus the 4-codebook delay
    generation.pad_token_id = generation.bos_token_id = generation.decoder_start_token_id = 64
    generation.guidance_scale, generation.top_k, generation.do_sample = 3.0, 250, True
    model.config.decoder_start_token_id = model.config.pad_token_id = 64
    return model.eval(), tokenizer


@pytest.fixture(scope="module")
def layouts(tmp_path_factory) -> tuple[Path, Path, object]:
    model, tokenizer = tiny_model()
    root = tmp_path_factory.mktemp("checkpoints")
    transformers_dir, audiocraft_dir = root / "transformers", root / "audiocraft"
    model.save_pretrained(transformers_dir)
    tokenizer.save_pretrained(transformers_dir)
    save_audiocraft(model, audiocraft_dir, LM_YAML, CODEC_YAML)
    model.text_encoder.save_pretrained(audiocraft_dir / "t5")
    tokenizer.save_pretrained(audiocraft_dir / "t5")
    return transformers_dir, audiocraft_dir, model


def melody(seconds: float = 2.0, rate: int = 32000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    pitch = np.where(t < seconds / 2, 440.0, 523.25)
    return (0.3 * np.sin(2 * np.pi * pitch * t)).astype(np.float32)


def test_layouts_are_detected(layouts) -> None:
    transformers_dir, audiocraft_dir, _ = layouts
    assert detect_layout(transformers_dir) == "transformers"
    assert detect_layout(audiocraft_dir) == "audiocraft"
    assert {p.name for p in audiocraft_dir.iterdir()} >= {"state_dict.bin", "compression_state_dict.bin"}


def test_both_layouts_give_identical_tokens_for_a_seed(layouts) -> None:
    transformers_dir, audiocraft_dir, _ = layouts
    from_transformers = load_melody_model(transformers_dir)
    from_audiocraft = load_melody_model(audiocraft_dir)
    assert from_transformers.info.source == "transformers"
    assert from_audiocraft.info.source == "audiocraft-converted"
    assert from_audiocraft.info.frame_rate_hz == from_transformers.info.frame_rate_hz == 50
    assert from_audiocraft.chroma_length == from_transformers.chroma_length == 8
    for key, value in from_transformers.model.state_dict().items():
        assert torch.equal(value, from_audiocraft.model.state_dict()[key]), key

    request = MelodyRequest(text="warm strings", duration_s=1.6, seed=7)
    runs = []
    for loaded in (from_transformers, from_audiocraft, from_transformers):
        stats_audio = list(loaded.generate(melody(), 32000, request))
        runs.append(np.concatenate([piece.samples for piece in stats_audio]))
    tokens = []
    for loaded in (from_transformers, from_audiocraft):
        prefix = loaded.prefix("warm strings", loaded.window_chroma(torch.eye(12)[[9, 9, 0, 0]], 0), guided=True)
        tokens.append(loaded.sampler.generate(prefix, 30, SamplingParams(3.0, 1.0, 250, seed=7)))
    assert torch.equal(tokens[0], tokens[1])
    assert len(torch.unique(tokens[0])) > 4  # real sampling, not a constant stream
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])
    assert runs[0].shape[0] == round(1.6 * 32000)


@pytest.mark.parametrize("guidance_scale", [1.0, 3.0])
def test_our_sampler_matches_transformers_greedy_generate(layouts, guidance_scale: float) -> None:
    _, _, model = layouts
    loaded = load_melody_model(layouts[0])
    chroma = loaded.window_chroma(torch.eye(12)[[2, 2, 7, 7, 11]], 0)
    frames = 20
    prefix = loaded.prefix("solo flute", chroma, guided=guidance_scale > 1)
    ours = loaded.sampler.generate(prefix, frames, SamplingParams(guidance_scale, 1.0, 1, 0))[0]

    steps: list[torch.Tensor] = []

    class Collect:
        def put(self, value: torch.Tensor) -> None:
            steps.append(value if value.ndim == 2 else value[:, None])

        def end(self) -> None:
            pass

    inputs = loaded.text_inputs("solo flute")
    inputs.pop("token_type_ids", None)
    loaded.model.generate(
        **inputs, input_features=chroma[None], do_sample=False, guidance_scale=guidance_scale,
        max_length=frames + 4, streamer=Collect(),
    )
    sequence = torch.cat(steps, dim=1)
    theirs = torch.stack([sequence[k, k + 1 : k + 1 + frames] for k in range(4)])
    assert torch.equal(ours, theirs)


def test_a_directory_without_a_model_is_a_missing_asset(tmp_path: Path) -> None:
    with pytest.raises(MissingAsset):
        load_melody_model(tmp_path)
    (tmp_path / "state_dict.bin").write_bytes(b"")
    with pytest.raises(MissingAsset):
        load_melody_model(tmp_path)
