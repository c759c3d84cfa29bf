"""Checkpoints: every finished block of a run saved as it completes.

A checkpoint is a hidden folder beside the results, ``DIR/.<stem>.checkpoint/``,
holding

- ``manifest.json``: what the run is (config path and SHA-256, seed,
  samples, confidence, quadrature tolerance, number of cases, block size,
  mcverify version), written once when the run starts;
- ``block-00000042.npz``: the raw result columns of block 42 (plain numpy
  arrays, no pickle), one file per finished block;
- ``block-00000042.json``: the block's record, which binds it to its run:
  the block number, the run's identity (the manifest but for the config's
  path: config SHA-256, seed, samples, ..., mcverify version) and the
  SHA-256 of the block file's bytes, written just before the block file;
- ``lock``: the lock of the run using the checkpoint (:func:`fcntl.flock`,
  exclusive; the file holds the pid of its holder).

Every file is written under a temporary name and moved into place with
:func:`os.replace`, so a run killed at any moment (Ctrl-C, ``kill -9``, a
lost node) leaves only complete block files; leftover temporary files are
ignored and removed on resume.  Block files are not forced to disk one by
one (that would cost more than computing a block of small cases).

What a checkpoint guarantees on resume: a saved block is used only if it
is a regular file (checked with :func:`os.lstat` before it is opened: a
link, folder, FIFO or device is never opened or followed), its bytes
match the SHA-256 in its record, its record names this block and this
run (config, seed, samples, ..., mcverify version), and it holds exactly
the run's columns for exactly its cases.  Any other block (damaged by a
machine crash, copied from another run, edited) is removed and computed
again (:meth:`Checkpoint.damage`, :meth:`Checkpoint.discard`).  The
record is a checksum, not a signature: it catches accidents and a block
edited or copied on its own, not someone who rewrites the record too.
Blocks are numbered by position, so a resumed run computes exactly the
missing ones and the final table is assembled in case order from the block
files, the same as an uninterrupted run.

Only one run uses a checkpoint at a time: :meth:`Checkpoint.lock` takes a
non-blocking exclusive lock on ``lock`` before anything is read, removed or
written, and a second run is refused (:class:`CheckpointError`) without
changing anything.  The kernel releases the lock when its holder ends, so
a lock file left by a killed run does not block the next one.

This module does file I/O only; what a block holds is
:mod:`mcverify.tables.columns`' business.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mcverify.tables.atomic import writing
from mcverify.tables.columns import Columns, load_npz_arrays, npz_arrays

__all__ = ["Checkpoint", "CheckpointError", "Manifest"]

#: Version of the checkpoint layout; bumped when it changes (2: block records and the lock).
FORMAT = 2
_BLOCK = re.compile(r"^block-(\d{8})\.npz$")
_LOCK = "lock"


class CheckpointError(Exception):
    """A checkpoint does not belong to this run, or cannot be read or written."""


@dataclass(frozen=True)
class Manifest:
    """What a checkpoint's blocks were computed from; a resumed run must match it."""

    config: str
    config_hash: str
    seed: int
    samples: int
    confidence: float
    quad_rtol: float
    cases: int
    block_size: int
    mcverify: str
    format: int = FORMAT
    #: Sampling method and extra estimators, e.g. "mc", "qmc/64", "mc+k1,k3".
    sampling: str = "mc"

    def differences(self, other: Manifest) -> list[str]:
        """Human-readable differences from ``other`` (the checkpoint's), empty when they match."""
        out = []
        if self.config_hash != other.config_hash:
            out.append(
                f"the config has changed since the checkpoint was made (SHA-256 {other.config_hash[:12]}... "
                f"then, {self.config_hash[:12]}... now)"
            )
        names = {
            "seed": "seed",
            "samples": "samples",
            "confidence": "confidence",
            "quad_rtol": "quadrature tolerance",
            "cases": "number of cases",
            "block_size": "block size",
            "mcverify": "mcverify version",
            "format": "checkpoint format",
            "sampling": "sampling method",
        }
        for key, label in names.items():
            mine, theirs = getattr(self, key), getattr(other, key)
            if mine != theirs:
                out.append(f"it was made with {label} {theirs}, this run has {mine}")
        return out

    def identity(self) -> dict[str, Any]:
        """What binds a block to this run: every field but the config's path (a resume may name it otherwise)."""
        return {k: v for k, v in asdict(self).items() if k != "config"}


class _LazyNpz(Mapping[str, Any]):
    """Mapping view of an open ``NpzFile`` that reads members on access."""

    def __init__(self, data: Any) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        if key not in self._data.files:
            raise KeyError(key)
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data.files)

    def __len__(self) -> int:
        return len(self._data.files)


def _atomic_write(path: Path, data: bytes, sync: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file; an :class:`OSError` names ``path`` (disk full, ...)."""
    with writing(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if sync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _remove_entry(path: str | os.PathLike[str]) -> None:
    """Remove a file, link, FIFO or folder at ``path`` without following a link."""
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file; never opens a FIFO, device or folder, never follows a link.

    Raises
    ------
    CheckpointError
        When ``path`` is missing, not a regular file, or cannot be read (the
        message says which, without the path).
    """
    try:
        before = os.lstat(path)
        if not stat.S_ISREG(before.st_mode):
            raise CheckpointError("not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            now = os.fstat(fh.fileno())
            if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino) or not stat.S_ISREG(now.st_mode):
                raise CheckpointError("replaced while being read")
            return fh.read()
    except FileNotFoundError:
        raise CheckpointError("missing") from None
    except OSError as exc:
        raise CheckpointError(str(exc.strerror or exc)) from None


class Checkpoint:
    """The checkpoint folder of one run.

    Parameters
    ----------
    directory : path
        The folder, conventionally ``DIR/.<stem>.checkpoint`` (:meth:`folder_for`).
    """

    MANIFEST = "manifest.json"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._identity: dict[str, Any] | None = None
        self._lock_fd: int | None = None

    def check_folder(self) -> None:
        """Refuse a checkpoint path that is a link or not a folder, before anything reads or removes it.

        A checkpoint is removed recursively at the end of a run (and when a
        run starts afresh), so a symbolic link at its name would make that
        removal empty whatever folder the link points to.

        Raises
        ------
        CheckpointError
            When the path is a symbolic link (to anything, or dangling) or
            exists and is not a folder.
        """
        if self.directory.is_symlink():
            raise CheckpointError(
                f"{self.directory}: is a symbolic link; mcverify keeps its checkpoint in a folder of its own "
                "and never follows a link to write or delete: remove the link"
            )
        if self.directory.exists() and not self.directory.is_dir():
            raise CheckpointError(f"{self.directory}: is not a folder; remove it or choose another output folder")

    @staticmethod
    def folder_for(output: str | os.PathLike[str], stem: str) -> Path:
        """Where the checkpoint of results ``output/<stem>.*`` lives."""
        return Path(output) / f".{stem}.checkpoint"

    # ---------------------------------------------------------------- lock
    def lock(self) -> None:
        """Take the checkpoint's exclusive lock (creating the folder if need be), or refuse.

        Non-blocking: when another run holds it, nothing is changed and
        :class:`CheckpointError` names the folder and the holder's pid.  The
        lock is :func:`fcntl.flock` on ``lock`` inside the folder, released
        by :meth:`unlock` or by the kernel when this process ends.

        Raises
        ------
        CheckpointError
            When another run holds the lock, or the lock file cannot be used.
        """
        self.check_folder()
        path = self.directory / _LOCK
        for _ in range(10):  # the folder or the lock file may be removed by a run ending meanwhile
            self.directory.mkdir(parents=True, exist_ok=True)
            self.check_folder()
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    raise CheckpointError(f"{path}: not a regular file; remove it")
            except FileNotFoundError:
                pass
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise CheckpointError(f"{path}: cannot open the lock file ({exc.strerror or exc})") from None
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise CheckpointError(f"{path}: not a regular file; remove it")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                    pid = f"pid {holder}" if holder.isdigit() else "pid unknown"
                    raise CheckpointError(
                        f"{self.directory}: in use by another mcverify run ({pid}); wait for it or stop it"
                    ) from None
                try:  # still the file at that name (not removed by a run that has just ended)?
                    now = os.lstat(path)
                except FileNotFoundError:
                    os.close(fd)
                    continue
                mine = os.fstat(fd)
                if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
                    os.close(fd)
                    continue
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            except BaseException:
                os.close(fd)
                raise
            self._lock_fd = fd
            return
        raise CheckpointError(f"{self.directory}: cannot take its lock; another mcverify run keeps removing it")

    def unlock(self) -> None:
        """Release the lock; a folder that holds nothing but the lock file goes too."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        try:
            if os.listdir(self.directory) == [_LOCK]:
                os.unlink(self.directory / _LOCK)
                self.directory.rmdir()
        except OSError:
            pass
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)  # for forked workers that share the descriptor, too
            os.close(fd)

    # ------------------------------------------------------------ manifest
    def manifest(self) -> Manifest | None:
        """The stored manifest, or None when there is no (readable) checkpoint."""
        self.check_folder()
        path = self.directory / self.MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Manifest(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            raise CheckpointError(
                f"{path}: unreadable checkpoint manifest ({exc}); pass --restart to discard it"
            ) from None

    def exists(self) -> bool:
        """Whether a checkpoint (a manifest) is there."""
        return (self.directory / self.MANIFEST).is_file()

    def start(self, manifest: Manifest) -> None:
        """Create a fresh checkpoint: remove any old one (but its lock), write the manifest, bind to the run."""
        self._clear()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.check_folder()  # made by another process meanwhile: still never written through a link
        _atomic_write(self.directory / self.MANIFEST, (json.dumps(asdict(manifest), indent=1) + "\n").encode())
        self.bind(manifest)

    def bind(self, manifest: Manifest) -> None:
        """The run whose blocks this checkpoint writes and accepts (a resumed run binds to its own manifest)."""
        self._identity = manifest.identity()

    def _run_identity(self) -> dict[str, Any]:
        if self._identity is None:
            stored = self.manifest()
            if stored is None:
                raise CheckpointError(f"{self.directory}: no checkpoint manifest; pass --restart to start over")
            self._identity = stored.identity()
        return self._identity

    # -------------------------------------------------------------- blocks
    def _block_path(self, block: int) -> Path:
        return self.directory / f"block-{block:08d}.npz"

    def _record_path(self, block: int) -> Path:
        return self.directory / f"block-{block:08d}.json"

    def completed(self) -> set[int]:
        """Numbers of the blocks saved so far; removes leftovers of interrupted writes."""
        done: set[int] = set()
        if not self.directory.is_dir():
            return done
        for entry in os.scandir(self.directory):
            m = _BLOCK.match(entry.name)
            if m:
                done.add(int(m.group(1)))
            elif entry.name.endswith(".part"):
                _remove_entry(entry.path)
        return done

    def write(self, block: int, cols: Columns) -> None:
        """Save block ``block`` atomically (temporary file, then :func:`os.replace`), after its record.

        The record (block number, run identity, SHA-256 of the file's bytes)
        is written first, so a process killed between the two leaves a
        record without a block, which is ignored and overwritten.  Not
        flushed to disk: a process killed at any moment leaves the complete
        file or none.  After a machine crash a block file may be damaged;
        :meth:`damage` finds such files on resume and they are computed again.
        """

        buf = io.BytesIO()
        np.savez(buf, **npz_arrays(cols))  # type: ignore[arg-type]  # mypy matches **dict[str, NDArray] against savez's allow_pickle: bool too
        data = buf.getvalue()
        record = {"block": block, "sha256": hashlib.sha256(data).hexdigest(), "run": self._run_identity()}
        _atomic_write(self._record_path(block), (json.dumps(record) + "\n").encode(), sync=False)
        _atomic_write(self._block_path(block), data, sync=False)

    def _verified_bytes(self, block: int) -> tuple[bytes, dict[str, Any]]:
        """The block file's bytes and its record, when the bytes match the record's SHA-256."""
        data = _read_regular(self._block_path(block))
        try:
            record = json.loads(_read_regular(self._record_path(block)))
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except CheckpointError as exc:
            raise CheckpointError(f"its record is unusable ({exc})") from None
        except ValueError:
            raise CheckpointError("its record is unreadable") from None
        if record.get("block") != block:
            raise CheckpointError(f"its record is that of block {record.get('block')}")
        if record.get("sha256") != hashlib.sha256(data).hexdigest():
            raise CheckpointError("its bytes do not match the checksum in its record")
        return data, record

    def read(self, block: int, names: list[str] | None = None) -> Columns:
        """The columns of a saved block (only ``names`` if given), once its bytes match its record's checksum."""
        path = self._block_path(block)
        try:
            data, _ = self._verified_bytes(block)
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                return load_npz_arrays(_LazyNpz(npz), names)
        except (CheckpointError, OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"{path}: cannot read a saved block ({exc}); pass --restart to start over") from None

    def damage(self, block: int, start: int, stop: int, columns: Iterable[str] | None = None) -> str | None:
        """What is wrong with saved block ``block`` for this run, or None when it can be used.

        A block can be used when it is a regular file (not a link, folder,
        FIFO or device: never opened then), its bytes match its record's
        SHA-256, the record binds it to this block and to the run of
        :meth:`bind` (or of the stored manifest), and it holds exactly the
        columns ``columns`` (when given), each with exactly the cases
        ``start .. stop-1``.
        """
        try:
            data, record = self._verified_bytes(block)
        except CheckpointError as exc:
            return str(exc)
        try:
            identity = self._run_identity()
        except CheckpointError as exc:
            return str(exc)
        run = record.get("run")
        if run != identity:
            theirs = run if isinstance(run, dict) else {}
            key = next((k for k in identity if theirs.get(k) != identity[k]), None)
            if key is None:
                return "made by another run"
            return f"made by another run: {key} {theirs.get(key)}, this run has {identity[key]}"
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                cols = load_npz_arrays(_LazyNpz(npz))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            return f"unreadable ({exc})"
        if columns is not None:
            want = list(columns)
            missing = [c for c in want if c not in cols]
            if missing:
                return f"no column {missing[0]}"
            extra = [c for c in cols if c not in set(want)]
            if extra:
                return f"an unknown column {extra[0]}"
        if "index" not in cols:
            return "no column index"
        if any(len(col) != stop - start for col in cols.values()):
            return f"does not hold {stop - start} cases in every column"
        if not np.array_equal(np.asarray(cols["index"]), np.arange(start, stop)):
            return f"does not hold cases {start}..{stop - 1}"
        return None

    def valid(self, block: int, start: int, stop: int) -> bool:
        """Whether the saved block can be used for cases ``start .. stop-1`` (:meth:`damage` finds nothing)."""
        return self.damage(block, start, stop) is None

    def discard(self, block: int) -> None:
        """Remove a saved block and its record, whatever they are, never following a link."""
        _remove_entry(self._block_path(block))
        _remove_entry(self._record_path(block))

    def count_cases(self, blocks: set[int], block_size: int, n_cases: int) -> int:
        """Cases held by ``blocks`` of a run laid out in blocks of ``block_size``."""
        return sum(min(block_size, n_cases - b * block_size) for b in blocks if b * block_size < n_cases)

    def remove(self) -> None:
        """Delete the checkpoint: blocks first, then the manifest, the lock file last.

        Never follows a symbolic link: a link at the checkpoint's own name is
        refused (:meth:`check_folder`), a link inside it is removed as a link.
        The lock stays held until :meth:`unlock`; a run starting meanwhile
        sees its lock file gone and takes a new one.
        """
        self._clear()
        if not self.directory.exists():
            return
        _remove_entry(self.directory / _LOCK)
        try:
            self.directory.rmdir()
        except OSError:
            pass

    def _clear(self) -> None:
        """Delete everything in the checkpoint but the lock file, the manifest last."""
        self.check_folder()
        if not self.directory.exists():
            return
        for entry in os.scandir(self.directory):
            if entry.name not in (self.MANIFEST, _LOCK):
                _remove_entry(entry.path)
        _remove_entry(self.directory / self.MANIFEST)

    def describe(self) -> dict[str, Any]:
        """Path and block count, for messages."""
        return {"path": str(self.directory), "blocks": len(self.completed())}
