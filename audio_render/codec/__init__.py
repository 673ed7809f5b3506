"""The project's small audio tokenizer, shared by the melody generator and the accompaniment model.

    codec = MelCodec.from_pretrained(PRETRAINED_CODEC_DIR)
    tokens = codec.encode(audio, sample_rate_hz)    # int64 (4, frames) at 31.25 Hz
    audio = codec.decode(tokens)                    # float32 mono at 16 kHz
"""

from pathlib import Path

from audio_render.codec.mel_codec import MelCodec, MelCodecConfig

PRETRAINED_CODEC_DIR = Path(__file__).resolve().parent.parent / "pretrained" / "codec"

__all__ = ["MelCodec", "MelCodecConfig", "PRETRAINED_CODEC_DIR"]
