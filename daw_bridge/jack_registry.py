"""JACK's server registry (/dev/shm/jack-shm-registry, jackd2): what it holds, and freeing the entries
of servers that died without unregistering.

The registry has 8 server slots. A server unregisters when it stops cleanly; one that dies by a signal
(SIGKILL, or SIGPIPE: jackd 1.9.21 dies of it when it notifies a client that has gone while it shuts
down) keeps its slot. jackd frees a dead server's slot only when a new server of the same name starts,
so servers named per test run (by pid) fill the registry and every later jackd refuses to start with
"Too many servers". `free_dead_servers` does what jackd does for a same-name entry, for every entry
whose process is gone, under the registry's own lock (JACK's System V semaphore).

Layout (jackd2's shm.h, checked against the header's own lengths before anything is written): a 24-byte
header (magic "JACK" little-endian, protocol, type, size, header length, entry length), then 8 slots of
264 bytes: a pid (int32) and the server's prefix "jack-UID:NAME:" (up to 257 bytes, NUL-terminated).
"""

from __future__ import annotations

import ctypes
import glob
import os
import struct
from dataclasses import dataclass
from pathlib import Path

REGISTRY_PATH = Path("/dev/shm/jack-shm-registry")

_MAGIC = 0x4A41434B  # b"KCAJ" on disk
_SLOTS = 8
_HEADER_BYTES = 24
_SLOT_BYTES = 264
_NAME_BYTES = 257
_SEMAPHORE_KEY = 0x282929  # JACK_SEMAPHORE_KEY: one semaphore guards the registry
_IPC_CREAT, _IPC_EXCL, _SEM_UNDO = 0o1000, 0o2000, 0x1000


@dataclass(frozen=True)
class ServerEntry:
    slot: int
    pid: int
    prefix: str  # "jack-UID:NAME:"

    @property
    def name(self) -> str:
        parts = self.prefix.split(":")
        return parts[1] if len(parts) >= 2 else self.prefix

    @property
    def alive(self) -> bool:
        return _alive(self.pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _check_layout(data: bytes) -> None:
    magic, = struct.unpack_from("<I", data, 0)
    size, header_bytes = struct.unpack_from("<II", data, 12)
    if magic != _MAGIC or header_bytes != _HEADER_BYTES + _SLOTS * _SLOT_BYTES or size != len(data):
        raise ValueError(
            f"{REGISTRY_PATH} is not the jackd2 registry layout this code knows "
            f"(magic {magic:#x}, header {header_bytes} bytes, size {size} of {len(data)})")


def servers(path: Path = REGISTRY_PATH) -> list[ServerEntry]:
    """The occupied server slots (empty when no JACK server ever ran here)."""
    try:
        return _entries(path.read_bytes())
    except FileNotFoundError:
        return []


def _entries(data: bytes) -> list[ServerEntry]:
    _check_layout(data)
    entries = []
    for slot in range(_SLOTS):
        at = _HEADER_BYTES + slot * _SLOT_BYTES
        pid, = struct.unpack_from("<i", data, at)
        if pid:
            prefix = data[at + 4: at + 4 + _NAME_BYTES].split(b"\0", 1)[0].decode(errors="replace")
            entries.append(ServerEntry(slot, pid, prefix))
    return entries


class _Sembuf(ctypes.Structure):
    _fields_ = [("sem_num", ctypes.c_ushort), ("sem_op", ctypes.c_short), ("sem_flg", ctypes.c_short)]


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _RegistryLock:
    """JACK's registry semaphore, taken as jackd takes it (SEM_UNDO: released if this process dies)."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._timeout_s = timeout_s
        self._id = -1

    def _op(self, delta: int, flags: int, timeout_s: float | None) -> None:
        op = _Sembuf(0, delta, flags)
        if timeout_s is None:
            result = self._libc.semop(self._id, ctypes.byref(op), 1)
        else:
            whole = int(timeout_s)
            spec = _Timespec(whole, int((timeout_s - whole) * 1e9))
            result = self._libc.semtimedop(self._id, ctypes.byref(op), 1, ctypes.byref(spec))
        if result == -1:
            errno = ctypes.get_errno()
            raise OSError(errno, f"JACK's registry lock: {os.strerror(errno)}")

    def __enter__(self) -> "_RegistryLock":
        self._id = self._libc.semget(_SEMAPHORE_KEY, 0, 0)
        if self._id == -1:  # no JACK server made it yet: create it as jackd does (one owner allowed)
            self._id = self._libc.semget(_SEMAPHORE_KEY, 1, _IPC_CREAT | _IPC_EXCL | 0o666)
            if self._id != -1:
                self._op(1, 0, None)
            else:
                self._id = self._libc.semget(_SEMAPHORE_KEY, 0, 0)  # made by someone else meanwhile
            if self._id == -1:
                errno = ctypes.get_errno()
                raise OSError(errno, f"JACK's registry lock: {os.strerror(errno)}")
        self._op(-1, _SEM_UNDO, self._timeout_s)
        return self

    def __exit__(self, *_: object) -> None:
        self._op(1, _SEM_UNDO, None)


def free_dead_servers(pid: int | None = None, path: Path = REGISTRY_PATH) -> list[ServerEntry]:
    """Frees the slots of servers whose process is gone (only the slot of `pid`, when given; that
    process must be gone too) and returns them. Live servers' slots are never touched."""
    if not path.exists():
        return []
    freed = []
    with _RegistryLock():
        with open(path, "r+b") as registry:
            for entry in _entries(registry.read()):
                if (pid is None or entry.pid == pid) and not entry.alive:
                    registry.seek(_HEADER_BYTES + entry.slot * _SLOT_BYTES)
                    registry.write(bytes(_SLOT_BYTES))
                    freed.append(entry)
    return freed


def remove_semaphore_files(server_name: str, directory: Path = Path("/dev/shm")) -> int:
    """Removes the named semaphores libjack made for the clients of a server that has stopped
    (jack_sem.UID_SERVER_CLIENT; clients that die leave them behind). Returns how many."""
    removed = 0
    for sem in directory.glob(f"jack_sem.{os.getuid()}_{glob.escape(server_name)}_*"):
        try:
            sem.unlink()
            removed += 1
        except OSError:
            pass
    return removed
