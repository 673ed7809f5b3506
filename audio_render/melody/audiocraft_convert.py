"""Converts an audiocraft-layout MusicGen-melody directory into transformers modules, by key mapping.

audiocraft is never imported (it cannot be installed cleanly here, see ../shared/STACK.md). The layout is
what audiocraft's `export_lm` / `export_encodec` write:

    state_dict.bin               {"best_state": LM state dict, "xp.cfg": YAML text, ...}
    compression_state_dict.bin   {"best_state": EnCodec state dict, "xp.cfg": YAML text, ...}
    t5/                          (ours) a transformers-layout T5 encoder + tokenizer, e.g. t5-base

Both .bin files are read with `torch.load(weights_only=True)`: tensors and plain containers only.

LM keys (audiocraft -> transformers), as transformers' own conversion script maps them:
    emb.{k}.weight                                  model.decoder.embed_tokens.{k}.weight
    transformer.layers.{i}.self_attn.in_proj_weight q_proj / k_proj / v_proj (split in thirds)
    transformer.layers.{i}.self_attn.out_proj       ...self_attn.out_proj
    transformer.layers.{i}.linear1 / linear2        ...fc1 / fc2
    transformer.layers.{i}.norm1 / norm2            ...self_attn_layer_norm / final_layer_norm
    out_norm                                        model.decoder.layer_norm
    linears.{k}                                     lm_heads.{k}
    condition_provider.conditioners.description.output_proj   enc_to_dec_proj
    condition_provider.conditioners.self_wav.output_proj      audio_enc_to_dec_proj
EnCodec keys: encoder/decoder `.model.{i}` -> `.layers.{i}`, `conv.conv` / `convtr.convtr` -> `conv`,
`weight_g` / `weight_v` -> `parametrizations.weight.original0` / `original1`,
`quantizer.vq.layers.{n}._codebook` -> `quantizer.layers.{n}.codebook`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch

from ostinato.errors import InvalidInput, MissingAsset

LM_FILE = "state_dict.bin"
COMPRESSION_FILE = "compression_state_dict.bin"
TEXT_ENCODER_DIR = "t5"
# Buffers of audiocraft's chroma conditioner (STFT window, filter bank): recomputed by our chroma code.
_IGNORED_LM_PREFIXES = ("condition_provider.conditioners.self_wav.chroma.", "condition_provider.conditioners.self_wav.demucs")

_LM_RULES = [
    (r"^emb\.(\d+)\.", r"model.decoder.embed_tokens.\1."),
    (r"^transformer\.layers\.(\d+)\.self_attn\.out_proj\.", r"model.decoder.layers.\1.self_attn.out_proj."),
    (r"^transformer\.layers\.(\d+)\.linear1\.", r"model.decoder.layers.\1.fc1."),
    (r"^transformer\.layers\.(\d+)\.linear2\.", r"model.decoder.layers.\1.fc2."),
    (r"^transformer\.layers\.(\d+)\.norm1\.", r"model.decoder.layers.\1.self_attn_layer_norm."),
    (r"^transformer\.layers\.(\d+)\.norm2\.", r"model.decoder.layers.\1.final_layer_norm."),
    (r"^out_norm\.", r"model.decoder.layer_norm."),
    (r"^linears\.(\d+)\.", r"lm_heads.\1."),
    (r"^condition_provider\.conditioners\.description\.output_proj\.", r"enc_to_dec_proj."),
    (r"^condition_provider\.conditioners\.self_wav\.output_proj\.", r"audio_enc_to_dec_proj."),
]
_QKV = re.compile(r"^transformer\.layers\.(\d+)\.self_attn\.in_proj_weight$")


def _read(path: Path) -> tuple[dict, dict]:
    import yaml

    if not path.is_file():
        raise MissingAsset(f"{path} is missing")
    package = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(package, dict) and "best_state" in package:
        state = package["best_state"]
        if isinstance(state, dict) and "model" in state and not any(isinstance(v, torch.Tensor) for v in state.values()):
            state = state["model"]
        config_text = package.get("xp.cfg") or ""
    else:
        state, config_text = package, ""
    config = yaml.safe_load(config_text) if isinstance(config_text, str) and config_text else {}
    if not isinstance(state, dict) or not state:
        raise InvalidInput(f"{path} holds no state dict")
    return state, config or {}


def lm_to_transformers(state: dict[str, torch.Tensor], hidden: int) -> tuple[dict, dict, dict]:
    """audiocraft LM state -> (decoder state, enc_to_dec_proj state, audio_enc_to_dec_proj state)."""
    decoder, text_proj, audio_proj = {}, {}, {}
    unknown = []
    for key, value in state.items():
        if key.startswith(_IGNORED_LM_PREFIXES):
            continue
        match = _QKV.match(key)
        if match:
            prefix = f"model.decoder.layers.{match.group(1)}.self_attn."
            decoder[prefix + "q_proj.weight"] = value[:hidden]
            decoder[prefix + "k_proj.weight"] = value[hidden : 2 * hidden]
            decoder[prefix + "v_proj.weight"] = value[2 * hidden :]
            continue
        for pattern, replacement in _LM_RULES:
            if re.match(pattern, key):
                new = re.sub(pattern, replacement, key)
                if new.startswith("enc_to_dec_proj."):
                    text_proj[new.split(".", 1)[1]] = value
                elif new.startswith("audio_enc_to_dec_proj."):
                    audio_proj[new.split(".", 1)[1]] = value
                else:
                    decoder[new] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise InvalidInput(f"unexpected keys in the audiocraft LM state: {unknown[:5]}")
    return decoder, text_proj, audio_proj


_LM_INVERSE = [
    (r"^model\.decoder\.embed_tokens\.(\d+)\.", r"emb.\1."),
    (r"^model\.decoder\.layers\.(\d+)\.self_attn\.out_proj\.", r"transformer.layers.\1.self_attn.out_proj."),
    (r"^model\.decoder\.layers\.(\d+)\.fc1\.", r"transformer.layers.\1.linear1."),
    (r"^model\.decoder\.layers\.(\d+)\.fc2\.", r"transformer.layers.\1.linear2."),
    (r"^model\.decoder\.layers\.(\d+)\.self_attn_layer_norm\.", r"transformer.layers.\1.norm1."),
    (r"^model\.decoder\.layers\.(\d+)\.final_layer_norm\.", r"transformer.layers.\1.norm2."),
    (r"^model\.decoder\.layer_norm\.", r"out_norm."),
    (r"^lm_heads\.(\d+)\.", r"linears.\1."),
]


def lm_from_transformers(model) -> dict[str, torch.Tensor]:
    """The inverse mapping: a transformers MusicgenMelodyForConditionalGeneration -> audiocraft LM state."""
    out = {}
    state = model.decoder.state_dict()
    for i in range(len(model.decoder.model.decoder.layers)):
        prefix = f"model.decoder.layers.{i}.self_attn."
        out[f"transformer.layers.{i}.self_attn.in_proj_weight"] = torch.cat(
            [state[prefix + name] for name in ("q_proj.weight", "k_proj.weight", "v_proj.weight")]
        )
    for key, value in state.items():
        if re.search(r"\.(q|k|v)_proj\.", key) or "embed_positions" in key:
            continue
        for pattern, replacement in _LM_INVERSE:
            if re.match(pattern, key):
                out[re.sub(pattern, replacement, key)] = value
                break
        else:
            raise InvalidInput(f"no audiocraft name for decoder tensor {key}")
    for name, audiocraft in (("enc_to_dec_proj", "description"), ("audio_enc_to_dec_proj", "self_wav")):
        for key, value in getattr(model, name).state_dict().items():
            out[f"condition_provider.conditioners.{audiocraft}.output_proj.{key}"] = value
    return out


def _encodec_key(key: str) -> str:
    key = re.sub(r"^(encoder|decoder)\.model\.", r"\1.layers.", key)
    key = key.replace(".conv.conv.", ".conv.").replace(".convtr.convtr.", ".conv.")
    key = key.replace(".weight_g", ".parametrizations.weight.original0").replace(".weight_v", ".parametrizations.weight.original1")
    key = re.sub(r"^quantizer\.vq\.layers\.(\d+)\._codebook\.", r"quantizer.layers.\1.codebook.", key)
    return key


def encodec_to_transformers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {_encodec_key(key): value for key, value in state.items()}


def encodec_from_transformers(encodec) -> dict[str, torch.Tensor]:
    """The inverse mapping (transformers EncodecModel -> audiocraft names), for exporting and tests."""
    out = {}
    decoder_transposed = {
        int(m.group(1)) for key in encodec.state_dict() if (m := re.match(r"^decoder\.layers\.(\d+)\.conv\.", key))
        and isinstance(encodec.decoder.layers[int(m.group(1))].conv, torch.nn.ConvTranspose1d)
    }
    for key, value in encodec.state_dict().items():
        new = key.replace(".parametrizations.weight.original0", ".weight_g").replace(".parametrizations.weight.original1", ".weight_v")
        new = re.sub(r"^quantizer\.layers\.(\d+)\.codebook\.", r"quantizer.vq.layers.\1._codebook.", new)
        match = re.match(r"^(encoder|decoder)\.layers\.(\d+)\.", new)
        if match:
            side, index = match.group(1), int(match.group(2))
            rest = new[match.end():]
            if rest.startswith("conv."):
                wrapper = "convtr.convtr." if side == "decoder" and index in decoder_transposed else "conv.conv."
                rest = wrapper + rest[len("conv."):]
            rest = re.sub(r"^(block\.\d+|shortcut)\.conv\.", r"\1.conv.conv.", rest)
            new = f"{side}.model.{index}.{rest}"
        out[new] = value
    return out


def decoder_config_from(state: dict, config: dict):
    from transformers import MusicgenMelodyDecoderConfig

    lm = config.get("transformer_lm", {}) if isinstance(config, dict) else {}
    embeddings = sorted(int(m.group(1)) for key in state if (m := re.match(r"^emb\.(\d+)\.weight$", key)))
    if not embeddings:
        raise InvalidInput("the audiocraft LM state has no emb.* tensors: not a MusicGen LM")
    hidden = state["emb.0.weight"].shape[1]
    vocab = state["emb.0.weight"].shape[0] - 1
    layers = len({m.group(1) for key in state if (m := re.match(r"^transformer\.layers\.(\d+)\.", key))})
    ffn = state["transformer.layers.0.linear1.weight"].shape[0]
    heads = int(lm.get("num_heads") or max(1, hidden // 64))
    channels = int(config.get("channels", 1) or 1) if isinstance(config, dict) else 1
    return MusicgenMelodyDecoderConfig(
        vocab_size=vocab, max_position_embeddings=2048, num_hidden_layers=layers, ffn_dim=ffn,
        num_attention_heads=heads, hidden_size=hidden, num_codebooks=len(embeddings), audio_channels=channels,
        activation_function=str(lm.get("activation", "gelu")), pad_token_id=vocab, bos_token_id=vocab,
    )


def encodec_config_from(state: dict, config: dict):
    from transformers import EncodecConfig

    seanet = config.get("seanet", {}) if isinstance(config, dict) else {}
    rvq = config.get("rvq", {}) if isinstance(config, dict) else {}
    sample_rate = int(config.get("sample_rate", 32000)) if isinstance(config, dict) else 32000
    codebooks = sorted({int(m.group(1)) for key in state if (m := re.match(r"^quantizer\.vq\.layers\.(\d+)\.", key))})
    if not codebooks:
        raise InvalidInput("the compression state has no quantizer.vq.layers.*: not an EnCodec")
    embed = state[f"quantizer.vq.layers.{codebooks[0]}._codebook.embed"]
    first_conv = next(v for k, v in state.items() if k.startswith("encoder.model.0.conv.conv.weight"))
    ratios = list(seanet.get("ratios", [8, 5, 4, 4]))
    lstm_layers = len({m.group(1) for key in state if (m := re.match(r"^encoder\.model\.\d+\.lstm\.weight_ih_l(\d+)$", key))})
    hop = math.prod(ratios)
    frame_rate = math.ceil(sample_rate / hop)
    return EncodecConfig(
        sampling_rate=sample_rate,
        audio_channels=int(seanet.get("channels", 1)),
        hidden_size=int(seanet.get("dimension", embed.shape[1])),
        num_filters=int(seanet.get("n_filters", first_conv.shape[0])),
        num_residual_layers=int(seanet.get("n_residual_layers", 1)),
        upsampling_ratios=ratios,
        norm_type=str(seanet.get("norm", "weight_norm")),
        kernel_size=int(seanet.get("kernel_size", 7)),
        last_kernel_size=int(seanet.get("last_kernel_size", 7)),
        residual_kernel_size=int(seanet.get("residual_kernel_size", 3)),
        dilation_growth_rate=int(seanet.get("dilation_base", 2)),
        use_causal_conv=bool(seanet.get("causal", False)),
        pad_mode=str(seanet.get("pad_mode", "reflect")),
        compress=int(seanet.get("compress", 2)),
        num_lstm_layers=lstm_layers or int(seanet.get("lstm", 2)),
        use_conv_shortcut=not bool(seanet.get("true_skip", True)),
        codebook_size=int(rvq.get("bins", embed.shape[0])),
        codebook_dim=int(embed.shape[1]),
        target_bandwidths=[len(codebooks) * math.log2(embed.shape[0]) * frame_rate / 1000],
        normalize=False,
    )


def _load_strict(module, state: dict, what: str) -> None:
    missing, unexpected = module.load_state_dict(state, strict=False)
    missing = [key for key in missing if "embed_positions" not in key]
    if missing or unexpected:
        raise InvalidInput(f"{what} does not match its configuration: missing {missing[:5]}, unexpected {unexpected[:5]}")


def load_audiocraft(directory: str | Path):
    """(MusicgenMelodyForConditionalGeneration, T5 tokenizer) from an audiocraft-layout directory."""
    from transformers import (
        AutoTokenizer,
        EncodecModel,
        MusicgenMelodyForCausalLM,
        MusicgenMelodyForConditionalGeneration,
        T5EncoderModel,
    )

    directory = Path(directory)
    lm_state, lm_config = _read(directory / LM_FILE)
    codec_state, codec_config = _read(directory / COMPRESSION_FILE)
    text_dir = directory / TEXT_ENCODER_DIR
    if not text_dir.is_dir():
        raise MissingAsset(
            f"an audiocraft-layout checkpoint needs its T5 text encoder: put a transformers-layout T5 "
            f"(e.g. t5-base: config.json, weights, tokenizer) in {text_dir}"
        )
    decoder_config = decoder_config_from(lm_state, lm_config)
    decoder_state, text_proj, audio_proj = lm_to_transformers(lm_state, decoder_config.hidden_size)
    decoder = MusicgenMelodyForCausalLM(decoder_config)
    _load_strict(decoder, decoder_state, "the audiocraft LM")

    encodec = EncodecModel(encodec_config_from(codec_state, codec_config))
    _load_strict(encodec, encodec_to_transformers(codec_state), "the audiocraft compression model")

    text_encoder = T5EncoderModel.from_pretrained(text_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(text_dir, local_files_only=True)
    model = MusicgenMelodyForConditionalGeneration(text_encoder=text_encoder, audio_encoder=encodec, decoder=decoder)
    if text_proj:
        model.enc_to_dec_proj.load_state_dict(text_proj)
    if audio_proj:
        model.audio_enc_to_dec_proj.load_state_dict(audio_proj)

    dataset = lm_config.get("dataset", {}) if isinstance(lm_config, dict) else {}
    segment_s = float(dataset.get("segment_duration", 30.0) or 30.0)
    frame_rate = encodec.config.frame_rate
    model.config.chroma_length = math.ceil(segment_s * 32000 / 4096)  # 235 for 30 s, as published
    pad = decoder_config.vocab_size
    generation = model.generation_config
    generation.max_length = round(segment_s * frame_rate) + decoder_config.num_codebooks
    generation.pad_token_id = generation.bos_token_id = generation.decoder_start_token_id = pad
    generation.guidance_scale, generation.top_k, generation.do_sample = 3.0, 250, True
    model.config.decoder_start_token_id = model.config.pad_token_id = pad
    return model.eval(), tokenizer


def save_audiocraft(model, directory: str | Path, lm_config_yaml: str = "", codec_config_yaml: str = "") -> None:
    """Writes a transformers model in audiocraft's layout (used by tests; the T5 goes to t5/)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save({"best_state": lm_from_transformers(model), "xp.cfg": lm_config_yaml, "exported": True},
               directory / LM_FILE)
    torch.save({"best_state": encodec_from_transformers(model.audio_encoder), "xp.cfg": codec_config_yaml,
                "exported": True}, directory / COMPRESSION_FILE)
