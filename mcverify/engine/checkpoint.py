"""Checkpoints: every finished block of a run saved as it completes.

A checkpoint is a hidden folder beside the results, ``DIR/.<stem>.checkpoint/``,
holding

- ``manifest.json``: what the run is (config path and SHA-256, seed,
  samples, confidence, quadrature tolerance, number of cases, block size,
  mcverify version), written once when the run starts;
- ``block-00000042.npz``: the raw result columns of block 42 (plain numpy
  arrays, no pickle), one file per finished block.

Every file is written under a temporary name and moved into place with
:func:`os.replace`, so a run killed at any moment (Ctrl-C, ``kill -9``, a
lost node) leaves only complete block files; leftover temporary files are
ignored and removed on resume.  Block files are not forced to disk one by
one (that would cost more than computing a block of small cases); after a
machine crash a block that did not reach the disk intact fails
:meth:`Checkpoint.valid` and is computed again.  Blocks are numbered by
position, so a resumed run computes exactly the missing ones and the final
table is assembled in case order from the block files, the same as an
uninterrupted run.

This module does file I/O only; what a block holds is
:mod:`mcverify.tables.columns`' business.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mcverify.tables.columns import Columns, load_npz_arrays, npz_arrays

__all__ = ["Checkpoint", "CheckpointError", "Manifest"]

#: Version of the checkpoint layout; bumped when it changes.
FORMAT = 1
_BLOCK = re.compile(r"^block-(\d{8})\.npz$")


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
        """Create a fresh checkpoint: remove any old one, write the manifest."""
        self.remove()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.check_folder()  # made by another process meanwhile: still never written through a link
        _atomic_write(self.directory / self.MANIFEST, (json.dumps(asdict(manifest), indent=1) + "\n").encode())

    # -------------------------------------------------------------- blocks
    def _block_path(self, block: int) -> Path:
        return self.directory / f"block-{block:08d}.npz"

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
                Path(entry.path).unlink(missing_ok=True)
        return done

    def write(self, block: int, cols: Columns) -> None:
        """Save block ``block`` atomically (temporary file, then :func:`os.replace`).

        Not flushed to disk: a process killed at any moment leaves the
        complete file or none.  After a machine crash a block file may be
        damaged; :meth:`valid` finds such files on resume and they are
        computed again.
        """

        buf = io.BytesIO()
        np.savez(buf, **npz_arrays(cols))  # type: ignore[arg-type]  # mypy matches **dict[str, NDArray] against savez's allow_pickle: bool too
        _atomic_write(self._block_path(block), buf.getvalue(), sync=False)

    def read(self, block: int, names: list[str] | None = None) -> Columns:
        """The columns of a saved block (only ``names`` if given)."""
        path = self._block_path(block)
        try:
            with np.load(path, allow_pickle=False) as data:
                return load_npz_arrays(_LazyNpz(data), names)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"{path}: cannot read a saved block ({exc}); pass --restart to start over") from None

    def valid(self, block: int, start: int, stop: int) -> bool:
        """Whether the saved block loads and holds exactly cases ``start .. stop-1``."""
        try:
            index = self.read(block, ["index"])["index"]
        except CheckpointError:
            return False
        return len(index) == stop - start and (
            len(index) == 0 or (int(index[0]) == start and int(index[-1]) == stop - 1)
        )

    def count_cases(self, blocks: set[int], block_size: int, n_cases: int) -> int:
        """Cases held by ``blocks`` of a run laid out in blocks of ``block_size``."""
        return sum(min(block_size, n_cases - b * block_size) for b in blocks if b * block_size < n_cases)

    def remove(self) -> None:
        """Delete the checkpoint: blocks first, the manifest last.

        Never follows a symbolic link: a link at the checkpoint's own name is
        refused (:meth:`check_folder`), a link inside it is removed as a link.
        """
        self.check_folder()
        if not self.directory.exists():
            return
        manifest = self.directory / self.MANIFEST
        for entry in os.scandir(self.directory):
            if entry.path != str(manifest):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    Path(entry.path).unlink(missing_ok=True)
        manifest.unlink(missing_ok=True)
        try:
            self.directory.rmdir()
        except OSError:
            pass

    def describe(self) -> dict[str, Any]:
        """Path and block count, for messages."""
        return {"path": str(self.directory), "blocks": len(self.completed())}
