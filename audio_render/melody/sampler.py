"""Our sampler for MusicGen-melody decoders: a preallocated KV cache, classifier-free guidance batched
into one forward pass, and a step loop with no per-step allocation beyond the new token's tensors.

It reads the weights of a transformers `MusicgenMelodyForCausalLM` (shared, not copied) and reproduces
its arithmetic: sinusoidal positions over [chroma prefix, text prefix, tokens], pre-LayerNorm blocks
with bias-free q/k/v/out and fc1/fc2, a final LayerNorm and one head per codebook; the delay pattern of
`build_delay_pattern_mask` (codebook k's frame t sits at position t + k + 1, position 0 is the start
token); guidance as `uncond + (cond - uncond) * scale`, then temperature and top-k, as transformers'
`generate` orders its logits processors. With top_k = 1 it is greedy and matches `generate(do_sample=False)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ostinato.runtime import CancelToken

FramesReady = Callable[[torch.Tensor, int], None]


@dataclass(frozen=True)
class SamplingParams:
    guidance_scale: float = 3.0
    temperature: float = 1.0
    top_k: int = 250
    seed: int = 0


@dataclass
class _Layer:
    ln1_w: torch.Tensor
    ln1_b: torch.Tensor
    qkv: torch.Tensor
    out: torch.Tensor
    ln2_w: torch.Tensor
    ln2_b: torch.Tensor
    fc1: torch.Tensor
    fc2: torch.Tensor


class FastSampler:
    """Generates codebook tokens from a prefix of conditioning hidden states."""

    def __init__(self, causal_lm) -> None:
        from transformers.activations import ACT2FN

        config = causal_lm.config
        decoder = causal_lm.model.decoder
        self.num_codebooks = config.num_codebooks
        self.vocab_size = config.vocab_size
        self.pad_id = config.pad_token_id if config.pad_token_id is not None else config.vocab_size
        self.hidden = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = self.hidden // self.num_heads
        self.activation = ACT2FN[config.activation_function]
        self.audio_channels = getattr(config, "audio_channels", 1)
        self.embed = [e.weight.detach() for e in decoder.embed_tokens]
        self.positions_module = decoder.embed_positions
        self.layers = [
            _Layer(
                ln1_w=l.self_attn_layer_norm.weight.detach(), ln1_b=l.self_attn_layer_norm.bias.detach(),
                qkv=torch.cat([l.self_attn.q_proj.weight, l.self_attn.k_proj.weight, l.self_attn.v_proj.weight]).detach(),
                out=l.self_attn.out_proj.weight.detach(),
                ln2_w=l.final_layer_norm.weight.detach(), ln2_b=l.final_layer_norm.bias.detach(),
                fc1=l.fc1.weight.detach(), fc2=l.fc2.weight.detach(),
            )
            for l in decoder.layers
        ]
        self.final_w = decoder.layer_norm.weight.detach()
        self.final_b = decoder.layer_norm.bias.detach()
        self.heads = torch.stack([h.weight.detach() for h in causal_lm.lm_heads])  # (K, V, D)
        for layer in decoder.layers:
            if layer.self_attn.q_proj.bias is not None:
                raise ValueError("this sampler expects bias-free attention projections (MusicGen's layout)")

    def _positions(self, start: int, length: int) -> torch.Tensor:
        module = self.positions_module
        if start + length > module.weights.shape[0]:
            module.make_weights(start + length, module.embedding_dim)
        return module.weights[start : start + length]

    def _forward(self, x: torch.Tensor, start: int, cache_k: list, cache_v: list) -> torch.Tensor:
        """Runs x (B, S, D) at positions [start, start + S), filling the caches; returns final-normed hidden."""
        batch, length, _ = x.shape
        end = start + length
        h = x + self._positions(start, length)
        for index, layer in enumerate(self.layers):
            y = F.layer_norm(h, (self.hidden,), layer.ln1_w, layer.ln1_b)
            qkv = F.linear(y, layer.qkv).view(batch, length, 3, self.num_heads, self.head_dim)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
            cache_k[index][:, :, start:end] = k
            cache_v[index][:, :, start:end] = v
            attn = F.scaled_dot_product_attention(
                q, cache_k[index][:, :, :end], cache_v[index][:, :, :end], is_causal=length > 1 and start == 0
            ) if (length == 1 or start == 0) else self._chunk_attention(q, cache_k[index][:, :, :end], cache_v[index][:, :, :end], start)
            h = h + F.linear(attn.transpose(1, 2).reshape(batch, length, self.hidden), layer.out)
            y = F.layer_norm(h, (self.hidden,), layer.ln2_w, layer.ln2_b)
            h = h + F.linear(self.activation(F.linear(y, layer.fc1)), layer.fc2)
        return F.layer_norm(h, (self.hidden,), self.final_w, self.final_b)

    @staticmethod
    def _chunk_attention(q, k, v, start):
        length, total = q.shape[2], k.shape[2]
        mask = torch.ones(length, total, dtype=torch.bool).tril(diagonal=start)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, K, S) token ids -> (B, S, D): the sum of the codebook embeddings."""
        out = self.embed[0][tokens[:, 0]]
        for k in range(1, self.num_codebooks):
            out = out + self.embed[k][tokens[:, k]]
        return out

    def _valid(self, codebook: int, position: int, frames: int) -> bool:
        delay = codebook // 2 if self.audio_channels == 2 else codebook
        return 0 <= position - delay - 1 < frames

    @torch.inference_mode()
    def generate(
        self,
        prefix: torch.Tensor,
        frames: int,
        params: SamplingParams,
        prompt: torch.Tensor | None = None,
        on_frames: FramesReady | None = None,
        cancel: CancelToken | None = None,
    ) -> torch.Tensor:
        """Samples `frames` frames of tokens.

        Args:
            prefix: conditioning hidden states (B, P, D), or (2B, P, D) with the unconditional half last
                when guidance_scale > 1.
            frames: frames to produce, prompt included.
            params: guidance, temperature, top_k (<= 1 means greedy) and seed.
            prompt: (B, K, F0) tokens forced at the start (the overlap of a sliding window).
            on_frames: called as on_frames(tokens (B, K, frames), complete) whenever frames complete.
            cancel: checked every few steps.

        Returns:
            (B, K, frames) int64 tokens.
        """
        guided = params.guidance_scale is not None and params.guidance_scale > 1
        rows, prefix_length, _ = prefix.shape
        batch = rows // 2 if guided else rows
        codebooks, pad = self.num_codebooks, self.pad_id
        max_delay = (codebooks // 2 if self.audio_channels == 2 else codebooks)
        length = frames + max_delay  # positions 0 .. length-1 (transformers' max_length)
        sequence = torch.full((batch, codebooks, length), -1, dtype=torch.long)
        for k in range(codebooks):
            for position in range(length):
                if not self._valid(k, position, frames):
                    sequence[:, k, position] = pad
        prompt_frames = 0 if prompt is None else prompt.shape[-1]
        for k in range(codebooks):
            delay = k // 2 if self.audio_channels == 2 else k
            if prompt_frames:
                sequence[:, k, delay + 1 : delay + 1 + prompt_frames] = prompt[:, k]

        total = prefix_length + length
        cache_k = [torch.empty(rows, self.num_heads, total, self.head_dim, dtype=prefix.dtype) for _ in self.layers]
        cache_v = [torch.empty_like(c) for c in cache_k]
        generator = torch.Generator().manual_seed(int(params.seed))

        # Prefill: the prefix and every position whose tokens are all known (start token + prompt).
        known = prompt_frames + 1
        first = sequence[:, :, :known]
        tokens = torch.cat([first, first]) if guided else first
        x = torch.cat([prefix, self._embed(tokens)], dim=1)
        hidden = self._forward(x, 0, cache_k, cache_v)[:, -1]
        position_offset = prefix_length
        complete = max(prompt_frames, 0)
        for position in range(known, length):
            if cancel is not None and position % 8 == 0:
                cancel.check()
            logits = torch.einsum("bd,kvd->bkv", hidden, self.heads).float()
            if guided:
                conditional, unconditional = logits[:batch], logits[batch:]
                logits = unconditional + (conditional - unconditional) * params.guidance_scale
            step = sequence[:, :, position]
            unknown = step < 0
            if params.top_k is not None and params.top_k <= 1:
                choice = logits.argmax(-1)
            else:
                logits = logits / max(params.temperature, 1e-5)
                if params.top_k and params.top_k < logits.shape[-1]:
                    threshold = torch.topk(logits, params.top_k, dim=-1).values[..., -1:]
                    logits = logits.masked_fill(logits < threshold, float("-inf"))
                probs = torch.softmax(logits, dim=-1).reshape(batch * codebooks, -1)
                choice = torch.multinomial(probs, 1, generator=generator).view(batch, codebooks)
            step = torch.where(unknown, choice, step)
            sequence[:, :, position] = step
            done = position - max_delay  # frames [0, done) are complete once the last codebook has them
            if on_frames is not None and done > complete:
                complete = done
                on_frames(self._undelay(sequence, frames), complete)
            if position == length - 1:
                break
            fed = step[:, :, None]
            if guided:
                fed = torch.cat([fed, fed])
            hidden = self._forward(self._embed(fed), position_offset + position, cache_k, cache_v)[:, -1]
        return self._undelay(sequence, frames)

    def _undelay(self, sequence: torch.Tensor, frames: int) -> torch.Tensor:
        out = torch.empty(sequence.shape[0], self.num_codebooks, frames, dtype=torch.long)
        for k in range(self.num_codebooks):
            delay = k // 2 if self.audio_channels == 2 else k
            out[:, k] = sequence[:, k, delay + 1 : delay + 1 + frames]
        return out
