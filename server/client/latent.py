"""Latent-space calls of the Python client: Composer.Vary and Composer.Interpolate."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

from protos.ostinato.v1 import common_pb2, composer_pb2, composer_pb2_grpc
from server.client.base import ClientBase

ProgressCallback = Callable[[common_pb2.Progress], None]
NoticeCallback = Callable[[common_pb2.Notice], None]


def _midi_bytes(midi: bytes | str | Path) -> bytes:
    return midi if isinstance(midi, bytes) else Path(midi).read_bytes()


def _sampling(seed: int, temperature: float, top_k: int) -> composer_pb2.Sampling:
    return composer_pb2.Sampling(seed=seed, temperature=temperature, top_k=top_k)


class LatentCalls(ClientBase):
    def _clips(self, method, request, on_progress: ProgressCallback | None,  # type: ignore[no-untyped-def]
               timeout_s: float | None, on_notice: NoticeCallback | None = None) -> list[composer_pb2.Clip]:
        clips = []
        for response in self._stream(method, request, timeout_s):
            if response.HasField("progress"):
                if on_progress is not None:
                    on_progress(response.progress)
            elif response.HasField("notice"):
                if on_notice is not None:
                    on_notice(response.notice)
            elif response.HasField("clip"):
                clips.append(response.clip)
        return clips

    def vary(
        self,
        midi: bytes | str | Path,
        num_variations: int = 4,
        *,
        similarity_distance: float = 0.3,
        shifts: Mapping[str, float] | None = None,
        seed: int = 0,
        temperature: float = 0.0,
        top_k: int = 0,
        track: str | int = "",
        family: str = "",
        on_progress: ProgressCallback | None = None,
        on_notice: NoticeCallback | None = None,
        timeout_s: float | None = None,
    ) -> list[composer_pb2.Clip]:
        """Variations of a clip (MIDI bytes or a .mid path) sampled near it in the latent space.

        Args:
            similarity_distance: 0 gives the clip's reconstruction, 1 an unrelated sample.
            shifts: attribute -> signed amount in standard deviations, e.g. {"notes_per_bar": 1.0}
                for "more dense"; known: notes_per_bar, rhythm_intensity, pitch_range_octaves, mean_pitch.
            temperature: 0 decodes greedily (same request, same clips); 0.1-2.0 samples each step.
            track: the track of a multi-track file to vary, by name or zero-based index ("" chooses).
            family: the model family ("melody", "bass", "melody_16bar", "bass_16bar", "drums", "trio");
                "" chooses by the file's tracks (see VaryRequest.family). For "trio", track is
                "MELODY,BASS".
            on_notice: called with each Notice (the model and tracks read, chords cut to one note, ...).
        """
        request = composer_pb2.VaryRequest(
            midi=_midi_bytes(midi), num_variations=num_variations, similarity_distance=similarity_distance,
            shifts=[composer_pb2.AttributeShift(attribute=k, amount=v) for k, v in (shifts or {}).items()],
            sampling=_sampling(seed, temperature, top_k), track=str(track), family=family)
        return self._clips(self._stub(composer_pb2_grpc.ComposerStub).Vary, request, on_progress, timeout_s,
                           on_notice)

    def interpolate(
        self,
        start_midi: bytes | str | Path,
        end_midi: bytes | str | Path,
        steps: int = 8,
        *,
        seed: int = 0,
        temperature: float = 0.0,
        top_k: int = 0,
        start_track: str | int = "",
        end_track: str | int = "",
        family: str = "",
        on_progress: ProgressCallback | None = None,
        on_notice: NoticeCallback | None = None,
        timeout_s: float | None = None,
    ) -> list[composer_pb2.Clip]:
        """`steps` clips (2-16) from start to end, endpoints included: the first and last are the
        model's reconstructions of the two inputs. Each clip keeps the meter of the nearer input and
        the tempo moves linearly between the two. family: as in vary, for both ends."""
        request = composer_pb2.InterpolateRequest(
            start_midi=_midi_bytes(start_midi), end_midi=_midi_bytes(end_midi), steps=steps,
            sampling=_sampling(seed, temperature, top_k), start_track=str(start_track), end_track=str(end_track),
            family=family)
        return self._clips(self._stub(composer_pb2_grpc.ComposerStub).Interpolate, request, on_progress,
                           timeout_s, on_notice)
