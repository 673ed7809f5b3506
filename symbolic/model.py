"""A small decoder-only transformer with a preallocated KV cache: the torch form of the Composer's model,
for training and evaluation (serving decodes with symbolic.stepper, which reads the checkpoint without torch)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from symbolic.checkpoint import CONFIG_FILE, LAYER_NORM_EPS, WEIGHTS_FILE, TransformerConfig, check_files, read_config

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "KVCache", "MusicTransformer", "TransformerConfig"]


class KVCache:
    """Keys and values of every layer for a batch, filled up to `length` positions."""

    def __init__(self, config: TransformerConfig, batch: int, capacity: int, dtype=torch.float32) -> None:
        shape = (config.n_layers, batch, config.n_heads, capacity, config.head_dim)
        self.keys = torch.zeros(shape, dtype=dtype)
        self.values = torch.zeros(shape, dtype=dtype)
        self.length = 0
        self.capacity = capacity


class Block(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.norm1 = nn.LayerNorm(config.d_model, eps=LAYER_NORM_EPS)
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.out = nn.Linear(config.d_model, config.d_model)
        self.norm2 = nn.LayerNorm(config.d_model, eps=LAYER_NORM_EPS)
        self.ff1 = nn.Linear(config.d_model, config.d_ff)
        self.ff2 = nn.Linear(config.d_ff, config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, layer: int, cache: KVCache | None, start: int) -> torch.Tensor:
        batch, length, _ = x.shape
        heads, head_dim = self.config.n_heads, self.config.head_dim
        q, k, v = self.qkv(self.norm1(x)).view(batch, length, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
        if cache is None:
            attended = F.scaled_dot_product_attention(
                q, k, v, is_causal=True)
        else:
            attended = _attend_cached(q, k, v, cache, layer, start)
        x = x + self.dropout(self.out(attended.transpose(1, 2).reshape(batch, length, -1)))
        return x + self.dropout(self.ff2(F.gelu(self.ff1(self.norm2(x)))))


def _attend_cached(q, k, v, cache: KVCache, layer: int, start: int) -> torch.Tensor:
    """Stores a chunk's keys and values after `start` cached positions and attends causally over the
    whole cache."""
    length = q.shape[2]
    end = start + length
    cache.keys[layer, :, :, start:end] = k
    cache.values[layer, :, :, start:end] = v
    keys, values = cache.keys[layer, :, :, :end], cache.values[layer, :, :, :end]
    if length == 1:
        return F.scaled_dot_product_attention(q, keys, values)
    if start == 0:
        return F.scaled_dot_product_attention(q, keys, values, is_causal=True)
    mask = torch.ones(length, end, dtype=torch.bool).tril(diagonal=start)
    return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)


class MusicTransformer(nn.Module):
    """Token embedding + learned positions, pre-norm blocks, tied output head."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.position = nn.Embedding(config.max_seq_len, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model, eps=LAYER_NORM_EPS)
        self.apply(self._init)
        for block in self.blocks:
            nn.init.normal_(block.out.weight, std=0.02 / math.sqrt(2 * config.n_layers))
            nn.init.normal_(block.ff2.weight, std=0.02 / math.sqrt(2 * config.n_layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Logits for every position; with a cache, `ids` continue the cached sequence."""
        start = 0 if cache is None else cache.length
        length = ids.shape[1]
        if start + length > self.config.max_seq_len:
            raise ValueError(f"sequence of {start + length} tokens exceeds the model's {self.config.max_seq_len}")
        positions = torch.arange(start, start + length)
        x = self.embed(ids) + self.position(positions)
        for layer, block in enumerate(self.blocks):
            x = block(x, layer, cache, start)
        if cache is not None:
            cache.length = start + length
        return F.linear(self.norm(x), self.embed.weight)

    def decode_step(self, ids: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Inference-only forward of new tokens against the cache; logits of the last position (batch, vocab).

        Same arithmetic as forward(), written with plain functional calls: a decoding step is dominated
        by per-operation overhead, not by arithmetic, at this model size.
        """
        start = cache.length
        batch, length = ids.shape
        if start + length > self.config.max_seq_len:
            raise ValueError(f"sequence of {start + length} tokens exceeds the model's {self.config.max_seq_len}")
        heads, head_dim, width = self.config.n_heads, self.config.head_dim, self.config.d_model
        x = F.embedding(ids, self.embed.weight) + self.position.weight[start:start + length]
        end = start + length
        for layer, block in enumerate(self.blocks):
            h = F.layer_norm(x, (width,), block.norm1.weight, block.norm1.bias, block.norm1.eps)
            q, k, v = F.linear(h, block.qkv.weight, block.qkv.bias).view(batch, length, 3, heads, head_dim).permute(
                2, 0, 3, 1, 4)
            attended = _attend_cached(q, k, v, cache, layer, start)
            x = x + F.linear(attended.transpose(1, 2).reshape(batch, length, width), block.out.weight, block.out.bias)
            h = F.layer_norm(x, (width,), block.norm2.weight, block.norm2.bias, block.norm2.eps)
            x = x + F.linear(F.gelu(F.linear(h, block.ff1.weight, block.ff1.bias)), block.ff2.weight, block.ff2.bias)
        cache.length = end
        last = F.layer_norm(x[:, -1], (width,), self.norm.weight, self.norm.bias, self.norm.eps)
        return F.linear(last, self.embed.weight)

    @torch.inference_mode()
    def generate(self, prefix: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int = 0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Plain sampling with the KV cache: (batch, prefix) ids -> (batch, prefix + new) ids.

        symbolic.decoding adds the grammar and attribute constraints on top of decode_step.
        """
        cache = self.new_cache(prefix.shape[0])
        ids = prefix
        logits = self.decode_step(prefix, cache)
        for _ in range(min(max_new_tokens, self.config.max_seq_len - prefix.shape[1])):
            logits = logits / max(temperature, 1e-4)
            if top_k:
                threshold = torch.topk(logits, top_k, dim=-1).values[:, -1:]
                logits = logits.masked_fill(logits < threshold, float("-inf"))
            chosen = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)
            ids = torch.cat([ids, chosen], dim=1)
            if ids.shape[1] >= self.config.max_seq_len:
                break
            logits = self.decode_step(chosen, cache)
        return ids

    def new_cache(self, batch: int = 1) -> KVCache:
        return KVCache(self.config, batch, self.config.max_seq_len)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save_pretrained(self, directory: Path, extra: dict | None = None) -> None:
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        payload = {"model": asdict(self.config), **(extra or {})}
        (directory / CONFIG_FILE).write_text(json.dumps(payload, indent=2))
        state = {name: tensor.contiguous() for name, tensor in self.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE))

    @classmethod
    def from_pretrained(cls, directory: Path) -> "MusicTransformer":
        """The torch model of a checkpoint, for training and evaluation; serving reads the same files
        without torch (symbolic.checkpoint.TransformerWeights)."""
        from safetensors.torch import load_file

        config, _ = read_config(directory)
        model = cls(config)
        model.load_state_dict(load_file(str(check_files(directory) / WEIGHTS_FILE)))
        model.eval()
        return model
