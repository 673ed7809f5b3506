"""Finding SoundFonts: listing a set of directories and resolving a name or a path to a file.

A name is a file stem, matched case-insensitively ("FluidR3_GM", "timgm6mb"). When `restrict` is set
(requests that arrive over the network), a path is accepted only if it lies inside one of the
directories, so a client cannot make the server open arbitrary files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ostinato.errors import InvalidInput, MissingAsset

SYSTEM_SOUNDFONT_DIRS = (Path("/usr/share/sounds/sf2"), Path("/usr/share/soundfonts"))
FLUIDR3_GM = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TIMGM6MB = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
DEFAULT_SOUNDFONT = "FluidR3_GM"
SOUNDFONT_SUFFIXES = (".sf2", ".sf3")


@dataclass(frozen=True)
class SoundFontInfo:
    name: str
    path: Path
    size_bytes: int
    is_default: bool = False


def list_soundfonts(
    directories: Iterable[Path] = SYSTEM_SOUNDFONT_DIRS, default: str = DEFAULT_SOUNDFONT
) -> list[SoundFontInfo]:
    """SoundFonts found directly in `directories` (symlinks resolved, duplicates dropped), by name.

    Args:
        directories: folders to scan (missing ones are skipped).
        default: name or path of the default SoundFont, flagged with is_default.
    """
    seen: set[Path] = set()
    found: list[SoundFontInfo] = []
    for directory in directories:
        if not Path(directory).is_dir():
            continue
        for entry in sorted(Path(directory).iterdir()):
            if entry.suffix.lower() not in SOUNDFONT_SUFFIXES or not entry.is_file():
                continue
            real = entry.resolve()
            if real in seen:
                continue  # Debian's default-GM.sf2 is a symlink to FluidR3_GM.sf2
            seen.add(real)
            found.append(SoundFontInfo(entry.stem, entry, real.stat().st_size, False))
    default_path = _find(default, found)
    return [
        SoundFontInfo(sf.name, sf.path, sf.size_bytes, default_path is not None and sf.path == default_path)
        for sf in sorted(found, key=lambda sf: sf.name.lower())
    ]


def _find(name_or_path: str, available: Sequence[SoundFontInfo]) -> Path | None:
    for sf in available:
        if sf.name.lower() == name_or_path.lower() or str(sf.path) == name_or_path:
            return sf.path
    return None


def _is_inside(path: Path, directories: Iterable[Path]) -> bool:
    real = path.resolve()
    for directory in directories:
        try:
            real.relative_to(Path(directory).resolve())
            return True
        except ValueError:
            continue
    return False


def resolve_soundfont(
    name_or_path: str | Path | None,
    directories: Sequence[Path] = SYSTEM_SOUNDFONT_DIRS,
    default: str = DEFAULT_SOUNDFONT,
    *,
    restrict: bool = False,
) -> Path:
    """Returns the SoundFont file for a name, a path, or (empty/None) the default.

    Args:
        name_or_path: "FluidR3_GM", "TimGM6mb", "/path/to/My.sf2", or empty for `default`.
        directories: where names are looked up (and, with `restrict`, where paths must lie).
        default: used when `name_or_path` is empty.
        restrict: reject paths outside `directories`.

    Raises:
        InvalidInput: not a .sf2/.sf3 file, or a path outside the allowed directories.
        MissingAsset: no such SoundFont on this machine.
    """
    wanted = str(name_or_path).strip() if name_or_path else ""
    wanted = wanted or default
    looks_like_path = "/" in wanted or "\\" in wanted or Path(wanted).suffix.lower() in SOUNDFONT_SUFFIXES
    if looks_like_path:
        path = Path(wanted).expanduser()
        if path.suffix.lower() not in SOUNDFONT_SUFFIXES:
            raise InvalidInput(f"{wanted!r} is not a SoundFont: use a .sf2 or .sf3 file.")
        if restrict:
            if not path.is_absolute():
                path = next((Path(d) / path for d in directories if (Path(d) / path).exists()), path)
            if not _is_inside(path, directories):
                allowed = ", ".join(str(d) for d in directories)
                raise InvalidInput(
                    f"SoundFont {wanted!r} is outside the server's SoundFont folders ({allowed}); "
                    "copy it there or pick one from ListSoundFonts."
                )
        if not path.is_file():
            raise MissingAsset(f"SoundFont file {wanted!r} does not exist on this machine.")
        return path
    available = list_soundfonts(directories, default)
    path = _find(wanted, available)
    if path is None:
        names = ", ".join(sf.name for sf in available) or "none found"
        raise MissingAsset(f"No SoundFont named {wanted!r}; available: {names}.")
    return path
