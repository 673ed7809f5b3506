"""Composer calls of the Python client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from protos.ostinato.v1 import common_pb2, composer_pb2, composer_pb2_grpc
from server.client.base import ClientBase
from symbolic.attributes import tonic_pitch_class

if TYPE_CHECKING:
    from note_seq.protobuf import music_pb2

ProgressCallback = Callable[[common_pb2.Progress], None]

def read_midi(midi: bytes | str | Path) -> bytes:
    """Accepts MIDI bytes or a path to a .mid file."""
    return midi if isinstance(midi, bytes) else Path(midi).read_bytes()


def parse_key(text: str) -> composer_pb2.Key:
    """"D major", "F# minor", "G mixolydian", "Bb" -> Key (mode left open when not given)."""
    match = re.fullmatch(r"\s*([A-Ga-g])\s*(#|b|sharp|flat)?\s*([A-Za-z]*)\s*", text)
    if not match:
        raise ValueError(f"cannot read the key {text!r}; write e.g. 'D major' or 'F# minor'")
    tonic = tonic_pitch_class(match.group(1), match.group(2) or "")
    mode_word = (match.group(3) or "").lower()
    mode_word = {"m": "minor", "min": "minor", "maj": "major", "": "unspecified"}.get(mode_word, mode_word)
    try:
        mode = composer_pb2.Mode.Value(f"MODE_{mode_word.upper()}")
    except ValueError:
        raise ValueError(f"unknown mode {match.group(3)!r}") from None
    return composer_pb2.Key(tonic_pitch_class=tonic, mode=mode)


def make_attributes(
    *,
    instruments: Sequence[str | int] = (),
    key: str | None = None,
    time_signature: str | tuple[int, int] | None = None,
    tempo_bpm: float | None = None,
    bars: int | None = None,
    pitch_range: tuple[int, int] | None = None,
    pitch_range_octaves: float | None = None,
    notes_per_bar: float | None = None,
    rhythm_intensity: float | None = None,
    duration_s: float | None = None,
    style: str | None = None,
    polyphony: float | None = None,
    chords: str | None = None,
    roles: dict[str | int, str] | None = None,
) -> composer_pb2.Attributes:
    """Builds an Attributes message from everyday values: instruments by name ("fiddle", "drums") or
    GM program number, key as "D major", time signature as "6/8"."""
    message = composer_pb2.Attributes()
    for instrument in instruments:
        if isinstance(instrument, int):
            message.instruments.add(program=instrument)
        else:
            message.instruments.add(name=instrument)
    if key:
        message.key.CopyFrom(parse_key(key))
    if time_signature:
        numerator, denominator = (time_signature.split("/") if isinstance(time_signature, str) else time_signature)
        message.time_signature.numerator = int(numerator)
        message.time_signature.denominator = int(denominator)
    if pitch_range:
        message.pitch_range.lowest_pitch, message.pitch_range.highest_pitch = pitch_range
    for name, value in (("tempo_bpm", tempo_bpm), ("bars", bars), ("pitch_range_octaves", pitch_range_octaves),
                        ("notes_per_bar", notes_per_bar), ("rhythm_intensity", rhythm_intensity),
                        ("duration_s", duration_s), ("style", style), ("polyphony", polyphony),
                        ("chords", chords)):
        if value is not None:
            setattr(message, name, value)
    for instrument, role in (roles or {}).items():  # {"cello": "bass"}: roles by instrument as given above
        wanted = "ROLE_" + role.strip().upper().replace("-", "_").replace(" ", "_")
        if wanted not in composer_pb2.Role.keys():
            raise ValueError(f"unknown role {role!r}: melody, counter-melody, chords, pad, bass, drums, arpeggio")
        matches = [i for i in message.instruments if (i.name or i.program) == instrument]
        if not matches:
            raise ValueError(f"--role {instrument}={role}: {instrument!r} is not one of the instruments given")
        matches[0].role = composer_pb2.Role.Value(wanted)
    return message


@dataclass(frozen=True)
class MidiDescription:
    note_sequence: "music_pb2.NoteSequence"
    attributes: composer_pb2.Attributes


class ComposerCalls(ClientBase):
    def _clip_stream(self, method, request, on_progress: ProgressCallback | None) -> composer_pb2.Clip:  # type: ignore[no-untyped-def]
        clip = None
        for response in self._stream(method, request):
            if response.HasField("progress"):
                if on_progress is not None:
                    on_progress(response.progress)
            elif response.HasField("clip"):
                clip = response.clip
        if clip is None:
            raise RuntimeError("the server ended the stream without a clip")
        return clip

    def generate(
        self,
        attributes: composer_pb2.Attributes | None = None,
        *,
        text: str = "",
        seed: int = 0,
        temperature: float = 0.0,
        top_k: int = 0,
        candidates: int = 0,
        chords_midi: bytes = b"",
        on_progress: ProgressCallback | None = None,
    ) -> composer_pb2.Clip:
        """Generates a clip from attributes (see make_attributes) and/or free text; `candidates` > 1
        samples that many and returns the best match of the steered attributes; `chords_midi`: a clip
        whose per-bar chords the new one follows."""
        stub = self._stub(composer_pb2_grpc.ComposerStub)
        request = composer_pb2.GenerateRequest(
            attributes=attributes or composer_pb2.Attributes(), text=text, chords_midi=chords_midi,
            sampling=composer_pb2.Sampling(seed=seed, temperature=temperature, top_k=top_k, candidates=candidates))
        return self._clip_stream(stub.Generate, request, on_progress)

    def parse_text(self, text: str) -> composer_pb2.ParseTextResponse:
        """Maps free text to attributes, with what was understood and ignored."""
        stub = self._stub(composer_pb2_grpc.ComposerStub)
        return self._unary(stub.ParseText, composer_pb2.ParseTextRequest(text=text))

    def continue_midi(
        self,
        primer: bytes | str | Path,
        bars: int,
        *,
        continuation_only: bool = False,
        changes: composer_pb2.Attributes | None = None,
        entering: Sequence[str | int] = (),
        leaving: Sequence[str | int] = (),
        seed: int = 0,
        temperature: float = 0.0,
        top_k: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> composer_pb2.Clip:
        """Continues a primer file (of any length) by `bars` bars. `changes` (see make_attributes: key,
        tempo, meter, density, the exact instruments) and `entering`/`leaving` instruments start a new
        section at the boundary."""
        stub = self._stub(composer_pb2_grpc.ComposerStub)
        request = composer_pb2.ContinueRequest(
            primer_midi=read_midi(primer), bars=bars, continuation_only=continuation_only,
            sampling=composer_pb2.Sampling(seed=seed, temperature=temperature, top_k=top_k),
            entering=make_attributes(instruments=entering).instruments,
            leaving=make_attributes(instruments=leaving).instruments)
        if changes is not None:
            request.changes.CopyFrom(changes)
        return self._clip_stream(stub.Continue, request, on_progress)

    def infill(
        self,
        midi: bytes | str | Path,
        bars: Iterable[int],
        *,
        tracks: Iterable[int] = (),
        seed: int = 0,
        temperature: float = 0.0,
        top_k: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> composer_pb2.Clip:
        """Regenerates the given bars (zero-based) of the given tracks (all when empty)."""
        stub = self._stub(composer_pb2_grpc.ComposerStub)
        request = composer_pb2.InfillRequest(
            midi=read_midi(midi), bars=list(bars), tracks=list(tracks),
            sampling=composer_pb2.Sampling(seed=seed, temperature=temperature, top_k=top_k))
        return self._clip_stream(stub.Infill, request, on_progress)

    def drumify(
        self,
        midi: bytes | str | Path,
        *,
        style: str = "",
        merge: bool = False,
        seed: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> composer_pb2.Clip:
        """A drum part that follows the clip's rhythm: the drum track alone, or with `merge` the whole
        file with the drums added. `style`: a groove style of the library ("rock", "shuffle", "jig"...);
        `seed` chooses among the meter's grooves."""
        stub = self._stub(composer_pb2_grpc.ComposerStub)
        request = composer_pb2.DrumifyRequest(midi=read_midi(midi), style=style, merge=merge,
                                              sampling=composer_pb2.Sampling(seed=seed))
        return self._clip_stream(stub.Drumify, request, on_progress)

    def groove(
        self,
        midi: bytes | str | Path,
        *,
        amount: float = 1.0,
        seed: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> composer_pb2.Clip:
        """The clip with humanised timing and velocities: `amount` 0 (unchanged) to 1; the same seed
        gives the same result (0: the server chooses one and returns it in Clip.seed)."""
        stub = self._stub(composer_pb2_grpc.ComposerStub)
        request = composer_pb2.GrooveRequest(midi=read_midi(midi), amount=amount,
                                             sampling=composer_pb2.Sampling(seed=seed))
        return self._clip_stream(stub.Groove, request, on_progress)

    def describe_midi(self, midi: bytes | str | Path) -> MidiDescription:
        """Parses a MIDI file on the server: its NoteSequence and extracted attributes."""
        stub = self._stub(composer_pb2_grpc.ComposerStub)
        response = self._unary(stub.DescribeMidi, composer_pb2.DescribeMidiRequest(midi=read_midi(midi)))
        return MidiDescription(response.note_sequence, response.attributes)
