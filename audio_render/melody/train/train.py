"""Trains the embedded melody model (training-side only; the server never imports this module).

Teacher forcing on rendered clips: the condition is the clip's own argmax chroma (as MusicGen-melody
trains) and its attribute text; the target is its mel-codec tokens in MusicGen's delay pattern. 20% of
examples drop both conditions (the unconditional branch classifier-free guidance uses: zero text,
one-hot-0 chroma, exactly what transformers' generate feeds) and 10% drop the text only.

    nice -n 10 .venv/bin/python -m audio_render.melody.train.train --run runs/melody_lm            # prepare + train
    nice -n 10 .venv/bin/python -m audio_render.melody.train.train --run runs/melody_lm --resume   # go on

Writes runs/<run>/ckpt.pt (resumable), runs/<run>/export/ (an embedded-model directory, loadable by the
server) and runs/<run>/log.jsonl.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from audio_render.chroma import NUM_CHROMA, melody_chroma
from audio_render.codec.mel_codec import MelCodec
from audio_render.melody.embedded import EmbeddedMelodyConfig, new_model, save_embedded
from audio_render.melody.text import encode_text, load_minilm


def chroma_index_for_tokens(num_tokens: int, repeat: int) -> torch.Tensor:
    """Chroma frame of each token frame: the nearest frame centre (frame f sits at token repeat*f)."""
    return torch.div(torch.arange(num_tokens) + repeat // 2, repeat, rounding_mode="floor")


def prepare(data: Path, codec: MelCodec, config: EmbeddedMelodyConfig, out: Path) -> None:
    tokenizer, text_encoder = load_minilm()
    rate = int(json.loads((data / "meta.json").read_text())["sample_rate_hz"])
    result = {}
    for split in ("train", "test"):
        audio = np.load(data / f"{split}_audio.npy").astype(np.float32) / 32767.0
        specs = [json.loads(line) for line in (data / f"{split}_clips.jsonl").read_text().splitlines()]
        tokens, chroma = [], []
        started = time.time()
        for index, clip in enumerate(audio):
            tokens.append(codec.encode(clip, rate).to(torch.int16))
            chroma.append(melody_chroma(clip, rate).argmax(-1).to(torch.uint8))
            if index % 200 == 0:
                print(f"{split}: {index}/{len(audio)} clips, {time.time() - started:.0f} s", flush=True)
        texts = [spec["text"] for spec in specs]
        hidden, mask = [], []
        for begin in range(0, len(texts), 64):
            encoding = encode_text(tokenizer, text_encoder, texts[begin : begin + 64], config.text_max_tokens)
            hidden.append(encoding.hidden.half())
            mask.append(encoding.mask.to(torch.uint8))
        result[split] = {
            "tokens": torch.stack(tokens),
            "chroma": torch.stack(chroma),
            "text_hidden": torch.cat(hidden),
            "text_mask": torch.cat(mask),
            "texts": texts,
        }
    torch.save(result, out)


class Batches:
    """Random windows of the prepared clips, aligned on the chroma grid."""

    def __init__(self, split: dict, config: EmbeddedMelodyConfig, vocab: int, generator: random.Random) -> None:
        self.split, self.config, self.vocab, self.random = split, config, vocab, generator
        self.count, self.num_codebooks, self.frames = split["tokens"].shape
        self.chroma_index = chroma_index_for_tokens(config.window_frames, config.chroma_repeat)

    def window(self, clip: int, chroma_start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens (K, W) long, chroma one-hot (W, 12)) for the window starting at chroma frame chroma_start."""
        config = self.config
        start = chroma_start * config.chroma_repeat
        tokens = self.split["tokens"][clip, :, start : start + config.window_frames].long()
        chroma_frames = self.split["chroma"][clip].long()
        index = (chroma_start + self.chroma_index).clamp(max=chroma_frames.shape[0] - 1)
        one_hot = torch.nn.functional.one_hot(chroma_frames[index], NUM_CHROMA).float()
        return tokens, one_hot

    def sample(self, batch_size: int, null_all: float = 0.2, null_text: float = 0.1, clips=None, starts=None):
        config = self.config
        last_start = (self.frames - config.window_frames) // config.chroma_repeat
        clips = clips if clips is not None else [self.random.randrange(self.count) for _ in range(batch_size)]
        starts = starts if starts is not None else [self.random.randint(0, last_start) for _ in clips]
        tokens, chroma, text_keep, chroma_keep = [], [], [], []
        for clip, start in zip(clips, starts):
            window_tokens, window_chroma = self.window(clip, start)
            draw = self.random.random()
            tokens.append(window_tokens)
            chroma.append(window_chroma)
            text_keep.append(draw >= null_all + null_text)
            chroma_keep.append(draw >= null_all)
        text_hidden = self.split["text_hidden"][clips].float()
        text_mask = self.split["text_mask"][clips].float()
        return (
            torch.stack(tokens),
            torch.stack(chroma),
            text_hidden,
            text_mask * torch.tensor(text_keep, dtype=torch.float32)[:, None],
            torch.tensor(chroma_keep),
        )


def delayed(tokens: torch.Tensor, pad: int) -> torch.Tensor:
    """(B, K, T) -> (B, K, T + K) in MusicGen's delay pattern: position 0 is the start token, codebook k's
    frame t sits at position t + k + 1, everything else is pad."""
    batch, codebooks, frames = tokens.shape
    out = torch.full((batch, codebooks, frames + codebooks), pad, dtype=torch.long)
    for k in range(codebooks):
        out[:, k, k + 1 : k + 1 + frames] = tokens[:, k]
    return out


def loss_of(model, tokens, chroma, text_hidden, text_mask, chroma_keep, corrupt: float = 0.0) -> torch.Tensor:
    """Teacher-forced cross-entropy. `corrupt` replaces that fraction of the *input* tokens with random
    ones: at 31 Hz the next frame is nearly the previous one, so without it the decoder learns to copy
    its own history and ignores the melody (measured: 0.03 nats of codebook-0 loss from the chroma)."""
    decoder = model.decoder
    pad = decoder.config.pad_token_id
    null_chroma = torch.zeros_like(chroma)
    null_chroma[..., 0] = 1
    chroma = torch.where(chroma_keep[:, None, None], chroma, null_chroma)
    prefix = torch.cat(
        [model.audio_enc_to_dec_proj(chroma), model.enc_to_dec_proj(text_hidden) * text_mask[..., None]], dim=1
    )
    sequence = delayed(tokens, pad)
    inputs, targets = sequence[..., :-1], sequence[..., 1:]
    if corrupt > 0:
        noise = (torch.rand(inputs.shape) < corrupt) & (inputs != pad)
        inputs = torch.where(noise, torch.randint(0, pad, inputs.shape), inputs)
    batch, codebooks, length = inputs.shape
    hidden = decoder.model.decoder(
        input_ids=inputs.reshape(batch * codebooks, length), encoder_hidden_states=prefix
    ).last_hidden_state[:, prefix.shape[1] :]
    logits = torch.stack([head(hidden) for head in decoder.lm_heads], dim=1)  # (B, K, L, V)
    targets = targets.masked_fill(targets == pad, -100)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("runs/melody_lm"))
    parser.add_argument("--data", type=Path, default=Path(".cache/melody/data"))
    parser.add_argument("--codec", type=Path, default=Path("runs/codec"))
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--prepared", type=Path, default=Path(".cache/melody/lm_data.pt"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--max-steps", type=int, default=6000)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--layers", type=int, default=None)
    parser.add_argument("--export-to", type=Path, default=None,
                        help="only write the checkpoint's current weights as an embedded-model directory there")
    parser.add_argument("--corrupt", type=float, default=0.0, help="fraction of input tokens replaced at random")
    parser.add_argument("--align-heads", type=int, default=1,
                        help="layers (from the first) whose head 0 starts as a melody-alignment head (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    args.run.mkdir(parents=True, exist_ok=True)

    codec = MelCodec.from_pretrained(args.codec)
    config = EmbeddedMelodyConfig()
    if args.hidden:
        config = replace(config, hidden_size=args.hidden, ffn_dim=4 * args.hidden)
    if args.layers:
        config = replace(config, num_layers=args.layers)
    checkpoint_path = args.run / "ckpt.pt"
    if args.resume and checkpoint_path.is_file():
        checkpoint = torch.load(checkpoint_path, weights_only=False)
        config = EmbeddedMelodyConfig(**checkpoint["config"])
    else:
        checkpoint = None

    if args.export_to is not None:
        if checkpoint is None:
            raise SystemExit(f"--export-to needs --resume and a checkpoint in {args.run}")
        _, text_encoder = load_minilm()
        model = new_model(config, codec.config, text_encoder)
        for module, state in zip([model.decoder, model.enc_to_dec_proj, model.audio_enc_to_dec_proj], checkpoint["modules"]):
            module.load_state_dict(state)
        save_embedded(args.export_to, model, config, codec)
        print(f"exported step {checkpoint['step']} to {args.export_to}")
        return

    prepared = args.prepared
    if not prepared.is_file():
        prepare(args.data, codec, config, prepared)
    data = torch.load(prepared, weights_only=False)
    _, text_encoder = load_minilm()
    model = new_model(config, codec.config, text_encoder)
    if checkpoint is None:
        for layer in range(min(args.align_heads, config.num_layers)):
            init_alignment_head(model.decoder, offset=config.window_frames + config.text_max_tokens, layer=layer)
    trainable = [model.decoder, model.enc_to_dec_proj, model.audio_enc_to_dec_proj]
    parameters = [p for module in trainable for p in module.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=args.lr, betas=(0.9, 0.95), weight_decay=0.05)
    step, best = 0, math.inf
    rng = random.Random(0)
    if checkpoint is not None:
        for module, state in zip(trainable, checkpoint["modules"]):
            module.load_state_dict(state)
        optimizer.load_state_dict(checkpoint["optimizer"])
        step, best = checkpoint["step"], checkpoint["best"]
        rng.setstate(checkpoint["rng"])
        print(f"resumed at step {step}", flush=True)
    print(f"decoder parameters: {sum(p.numel() for p in model.decoder.parameters())}", flush=True)

    vocab = codec.config.codebook_size
    train = Batches(data["train"], config, vocab, rng)
    test = Batches(data["test"], config, vocab, random.Random(1))
    eval_clips = list(range(test.count)) * 2
    eval_starts = [0] * test.count + [(test.frames - config.window_frames) // config.chroma_repeat] * test.count
    eval_batch = test.sample(len(eval_clips), 0.0, 0.0, clips=eval_clips, starts=eval_starts)
    log = open(args.run / "log.jsonl", "a")
    started, losses = time.time(), []
    for module in trainable:
        module.train()
    while step < args.max_steps:
        lr = args.lr * min(1.0, (step + 1) / args.warmup)
        lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(step / args.max_steps, 1.0)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = loss_of(model, *train.sample(args.batch), corrupt=args.corrupt)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        step += 1
        losses.append(loss.item())
        if step % args.eval_every == 0:
            for module in trainable:
                module.eval()
            with torch.no_grad():
                test_loss = loss_of(model, *eval_batch).item()
                null = (eval_batch[0], eval_batch[1], eval_batch[2], eval_batch[3] * 0, torch.zeros_like(eval_batch[4]))
                test_loss_unconditional = loss_of(model, *null).item()
            for module in trainable:
                module.train()
            record = {
                "step": step, "train_loss": float(np.mean(losses)), "test_loss": test_loss,
                "test_loss_unconditional": test_loss_unconditional, "lr": lr, "elapsed_s": time.time() - started,
            }
            losses = []
            print(json.dumps(record), flush=True)
            log.write(json.dumps(record) + "\n")
            log.flush()
            if test_loss < best:
                best = test_loss
                save_embedded(args.run / "export", model, config, codec)
            torch.save(
                {
                    "config": asdict(config), "modules": [m.state_dict() for m in trainable],
                    "optimizer": optimizer.state_dict(), "step": step, "best": best, "rng": rng.getstate(),
                },
                checkpoint_path,
            )



def init_alignment_head(decoder, offset: int, layer: int = 0, head: int = 0, pairs: int = 16, sharpness: float = 8.0) -> None:
    """Sets one attention head so that position p attends to position p - offset from the start.

    MusicGen's sinusoidal position code satisfies PE(p - d) = R_d PE(p) with R_d a rotation in each
    (cos, sin) frequency pair, so a head whose keys read the position code and whose queries read it
    rotated by R_offset scores sum_i cos(w_i (p - offset - p')): largest at p' = p - offset. With the
    chroma prefix repeated to the token rate, that is where each token's melody sits; training otherwise
    has to discover this alignment from scratch, which a model this small did not do in 1,000 steps.
    Only the q/k rows of that head change; the architecture is untouched.
    """
    config = decoder.config
    hidden, heads = config.hidden_size, config.num_attention_heads
    head_dim = hidden // heads
    half = hidden // 2
    pairs = min(pairs, head_dim // 2)
    log_step = math.log(10000) / (half - 1)
    chosen = torch.linspace(0, half - 1, pairs).round().long()  # frequencies from high to very low
    attention = decoder.model.decoder.layers[layer].self_attn
    rows = slice(head * head_dim, (head + 1) * head_dim)
    q = torch.zeros(head_dim, hidden)
    k = torch.zeros(head_dim, hidden)
    scale = math.sqrt(sharpness)
    for j, i in enumerate(chosen.tolist()):
        w = math.exp(-i * log_step)
        c, s = math.cos(w * offset), math.sin(w * offset)
        # keys: (cos w p', sin w p'); queries: (cos w (p - offset), sin w (p - offset)) from cos/sin of w p
        k[2 * j, i], k[2 * j + 1, half + i] = scale, scale
        q[2 * j, i], q[2 * j, half + i] = scale * c, scale * s
        q[2 * j + 1, half + i], q[2 * j + 1, i] = scale * c, -scale * s
    with torch.no_grad():
        attention.q_proj.weight[rows] = q
        attention.k_proj.weight[rows] = k


if __name__ == "__main__":
    main()
