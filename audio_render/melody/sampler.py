"""Our sampler for MusicGen-melody decoders: a preallocated KV cache, classifier-free guidance batched
into one forward pass (conditional and unconditional rows share every weight read), fused q/k/v, and a
step loop that calls a handful of kernels per layer and nothing else.

It reads the weights of a transformers `MusicgenMelodyForCausalLM` and reproduces its arithmetic:
sinusoidal positions over [chroma prefix, text prefix, tokens], pre-LayerNorm blocks with bias-free
q/k/v/out and fc1/fc2, a final LayerNorm and one head per codebook; the delay pattern of
`build_delay_pattern_mask` (codebook k's frame t sits at position t + k + 1, position 0 is the start
token); guidance as `uncond + (cond - uncond) * scale`, then temperature and top-k, in the order of
transformers' logits processors. With top_k = 1 it is greedy and, with float32 weights, gives exactly
the tokens of `generate(do_sample=False)` (tested). Sampling draws among the top-k survivors only (the
same distribution as transformers', a different use of the random stream). Optional bfloat16 or int8
weights trade exactness for speed on this memory-bound workload.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from ostinato.runtime import CancelToken

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

    WEIGHT_FORMATS = ("float32", "bfloat16", "int8")

    def __init__(self, causal_lm, weights: str = "float32") -> None:
        """Args:
            causal_lm: a transformers MusicgenMelodyForCausalLM.
            weights: "float32" (exact: matches transformers' generate), "bfloat16" (half the memory
                traffic) or "int8" (per-channel int8 weights, fbgemm dynamic quantisation).
        """
        from transformers.activations import ACT2FN

        if weights not in self.WEIGHT_FORMATS:
            raise ValueError(f"weights must be one of {self.WEIGHT_FORMATS}, got {weights!r}")
        self.weights = weights
        self.dtype = torch.bfloat16 if weights == "bfloat16" else torch.float32

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
        self.embed = [e.weight.detach().to(self.dtype) for e in decoder.embed_tokens]
        self.positions_module = decoder.embed_positions
        self.layers = [
            _Layer(
                ln1_w=self._vector(l.self_attn_layer_norm.weight), ln1_b=self._vector(l.self_attn_layer_norm.bias),
                qkv=self._matrix(torch.cat([l.self_attn.q_proj.weight, l.self_attn.k_proj.weight, l.self_attn.v_proj.weight])),
                out=self._matrix(l.self_attn.out_proj.weight),
                ln2_w=self._vector(l.final_layer_norm.weight), ln2_b=self._vector(l.final_layer_norm.bias),
                fc1=self._matrix(l.fc1.weight), fc2=self._matrix(l.fc2.weight),
            )
            for l in decoder.layers
        ]
        self.final_w = self._vector(decoder.layer_norm.weight)
        self.final_b = self._vector(decoder.layer_norm.bias)
        self.heads = self._matrix(torch.cat([h.weight for h in causal_lm.lm_heads]))  # (K * V, D)
        for layer in decoder.layers:
            if layer.self_attn.q_proj.bias is not None:
                raise ValueError("this sampler expects bias-free attention projections (MusicGen's layout)")

    def _vector(self, weight: torch.Tensor) -> torch.Tensor:
        return weight.detach().to(self.dtype)

    def _matrix(self, weight: torch.Tensor):
        weight = weight.detach()
        if self.weights == "int8":
            scales = weight.abs().amax(dim=1).clamp_min(1e-8) / 127.0
            zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
            with warnings.catch_warnings():  # torch 2.13 marks quantized tensors deprecated; pinned, works
                warnings.simplefilter("ignore")
                quantised = torch.quantize_per_channel(weight.float(), scales.double(), zero_points, 0, torch.qint8)
                return torch.ops.quantized.linear_prepack(quantised, None)
        return weight.to(self.dtype).contiguous()

    def _linear(self, x: torch.Tensor, weight) -> torch.Tensor:
        if isinstance(weight, torch.Tensor):
            return F.linear(x, weight)
        return torch.ops.quantized.linear_dynamic(x, weight, True)

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, D) -> float32 (B, K, V)."""
        return self._linear(hidden, self.heads).float().view(hidden.shape[0], self.num_codebooks, self.vocab_size)

    def _positions(self, start: int, length: int) -> torch.Tensor:
        module = self.positions_module
        if start + length > module.weights.shape[0]:
            module.make_weights(start + length, module.embedding_dim)
        return module.weights[start : start + length].to(self.dtype)

    def _forward(self, x: torch.Tensor, start: int, cache_k: list, cache_v: list) -> torch.Tensor:
        """Runs x (B, S, D) at positions [start, start + S), filling the caches; returns final-normed hidden."""
        batch, length, _ = x.shape
        end = start + length
        h = x + self._positions(start, length)
        for index, layer in enumerate(self.layers):
            y = F.layer_norm(h, (self.hidden,), layer.ln1_w, layer.ln1_b)
            qkv = self._linear(y, layer.qkv).view(batch, length, 3, self.num_heads, self.head_dim)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
            cache_k[index][:, :, start:end] = k
            cache_v[index][:, :, start:end] = v
            keys, values = cache_k[index][:, :, :end], cache_v[index][:, :, :end]
            if length == 1:  # one new position sees everything before it
                attn = F.scaled_dot_product_attention(q, keys, values)
            elif start == 0:
                attn = F.scaled_dot_product_attention(q, keys, values, is_causal=True)
            else:
                mask = torch.ones(length, end, dtype=torch.bool).tril(diagonal=start)
                attn = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
            h = h + self._linear(attn.transpose(1, 2).reshape(batch, length, self.hidden), layer.out)
            y = F.layer_norm(h, (self.hidden,), layer.ln2_w, layer.ln2_b)
            h = h + self._linear(self.activation(self._linear(y, layer.fc1)), layer.fc2)
        return F.layer_norm(h, (self.hidden,), self.final_w, self.final_b)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, K, S) token ids -> (B, S, D): the sum of the codebook embeddings."""
        out = self.embed[0][tokens[:, 0]]
        for k in range(1, self.num_codebooks):
            out = out + self.embed[k][tokens[:, k]]
        return out

    def _valid(self, codebook: int, position: int, frames: int) -> bool:
        delay = codebook // 2 if self.audio_channels == 2 else codebook
        return 0 <= position - delay - 1 < frames

    def generate(
        self,
        prefix: torch.Tensor,
        frames: int,
        params: SamplingParams,
        prompt: torch.Tensor | None = None,
        cancel: CancelToken | None = None,
    ) -> torch.Tensor:
        """Samples `frames` frames of tokens; see `stream` for the arguments. Returns (B, K, frames)."""
        tokens = None
        for tokens, _ in self.stream(prefix, frames, params, prompt=prompt, cancel=cancel, every=frames):
            pass
        return tokens

    def stream(
        self,
        prefix: torch.Tensor,
        frames: int,
        params: SamplingParams,
        prompt: torch.Tensor | None = None,
        cancel: CancelToken | None = None,
        every: int = 16,
    ) -> Iterator[tuple[torch.Tensor, int]]:
        """Samples `frames` frames of tokens, yielding (tokens (B, K, frames), complete) each time `every`
        more frames are complete (all codebooks sampled) and at the end; frames past `complete` are
        not final yet.

        Args:
            prefix: conditioning hidden states (B, P, D), or (2B, P, D) with the unconditional half last
                when guidance_scale > 1.
            frames: frames to produce, prompt included.
            params: guidance, temperature, top_k (<= 1 means greedy) and seed.
            prompt: (B, K, F0) tokens forced at the start (the overlap of a sliding window).
            cancel: checked every few steps.
            every: how many newly completed frames trigger a yield.
        """
        with torch.inference_mode():
            yield from self._stream(prefix, frames, params, prompt, cancel, max(1, every))

    def _stream(self, prefix, frames, params, prompt, cancel, every):
        guided = params.guidance_scale is not None and params.guidance_scale > 1
        rows, prefix_length, _ = prefix.shape
        batch = rows // 2 if guided else rows
        codebooks, pad = self.num_codebooks, self.pad_id
        max_delay = codebooks // 2 if self.audio_channels == 2 else codebooks
        length = frames + max_delay  # positions 0 .. length-1 (transformers' max_length)
        sequence = torch.full((batch, codebooks, length), pad, dtype=torch.long)
        prompt_frames = 0 if prompt is None else prompt.shape[-1]
        for k in range(codebooks):
            delay = k // 2 if self.audio_channels == 2 else k
            sequence[:, k, delay + 1 : delay + 1 + frames] = -1
            if prompt_frames:
                sequence[:, k, delay + 1 : delay + 1 + prompt_frames] = prompt[:, k]

        prefix = prefix.to(self.dtype)
        total = prefix_length + length
        cache_k = [torch.empty(rows, self.num_heads, total, self.head_dim, dtype=self.dtype) for _ in self.layers]
        cache_v = [torch.empty_like(c) for c in cache_k]
        generator = torch.Generator().manual_seed(int(params.seed))

        # Prefill: the prefix and every position whose tokens are all known (start token + prompt).
        known = prompt_frames + 1
        first = sequence[:, :, :known]
        tokens = torch.cat([first, first]) if guided else first
        x = torch.cat([prefix, self._embed(tokens)], dim=1)
        hidden = self._forward(x, 0, cache_k, cache_v)[:, -1]
        complete = reported = prompt_frames
        for position in range(known, length):
            if cancel is not None and position % 8 == 0:
                cancel.check()
            logits = self._logits(hidden)
            if guided:
                conditional, unconditional = logits[:batch], logits[batch:]
                logits = unconditional + (conditional - unconditional) * params.guidance_scale
            step = sequence[:, :, position]
            choice = self._sample(logits, params, generator)
            step = torch.where(step < 0, choice, step)
            sequence[:, :, position] = step
            complete = max(complete, position - max_delay)  # frames [0, complete) have every codebook
            if position == length - 1:
                break
            if complete - reported >= every:
                reported = complete
                yield self._undelay(sequence, frames), complete
            fed = step[:, :, None]
            if guided:
                fed = torch.cat([fed, fed])
            hidden = self._forward(self._embed(fed), prefix_length + position, cache_k, cache_v)[:, -1]
        yield self._undelay(sequence, frames), frames

    @staticmethod
    def _sample(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator) -> torch.Tensor:
        """(B, K, V) guided logits -> (B, K) tokens: greedy for top_k <= 1, else top-k sampling at the
        temperature (the same distribution as transformers' temperature -> top-k -> softmax chain, drawn
        over the k survivors only, which is cheaper)."""
        if params.top_k is not None and params.top_k <= 1:
            return logits.argmax(-1)
        batch, codebooks, vocab = logits.shape
        temperature = max(params.temperature, 1e-5)
        if params.top_k and params.top_k < vocab:
            values, indices = torch.topk(logits, params.top_k, dim=-1)
            probs = torch.softmax(values.reshape(batch * codebooks, -1) / temperature, dim=-1)
            pick = torch.multinomial(probs, 1, generator=generator)
            return indices.reshape(batch * codebooks, -1).gather(1, pick).view(batch, codebooks)
        probs = torch.softmax(logits.reshape(batch * codebooks, vocab) / temperature, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).view(batch, codebooks)

    def _undelay(self, sequence: torch.Tensor, frames: int) -> torch.Tensor:
        out = torch.empty(sequence.shape[0], self.num_codebooks, frames, dtype=torch.long)
        for k in range(self.num_codebooks):
            delay = k // 2 if self.audio_channels == 2 else k
            out[:, k] = sequence[:, k, delay + 1 : delay + 1 + frames]
        return out
