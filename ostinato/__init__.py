"""Ostinato's shared kernel: the domain errors and the progress/cancellation primitives that
symbolic/, audio_render/ and daw_bridge/ use. It knows nothing of gRPC."""

__version__ = "0.1.0"
