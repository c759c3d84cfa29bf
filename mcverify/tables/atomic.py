"""Files that are either absent or complete: atomic writes, no silent overwrites, cleanup after crashes.

Every file mcverify writes goes through here.  The bytes go to a temporary
file in the destination folder, named ``.<name>.<host>-<pid>.<token>.part``,
are flushed and ``fsync``-ed, and the temporary file is then moved onto its
final name in one step (``os.replace``, or ``os.link`` when an existing
file must not be replaced), after which the folder itself is synced.  A
reader therefore sees the old file or the complete new one, never a
truncated one, whenever the writer is interrupted:

* an exception, ``KeyboardInterrupt`` (SIGINT) or SIGTERM turned into an
  exception by the CLI: the temporary file is removed;
* SIGKILL or a power cut: at most the temporary ``.part`` file is left
  behind; :func:`clean_stale` removes those of processes that no longer
  exist, and every ``mcverify`` command calls it on its output folder
  before it starts.

:func:`commit_all` moves a set of files into place with SIGINT and SIGTERM
held back until the whole set is in place, so that an interrupted run
leaves either all of a table's files or none.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import re
import secrets
import signal
import socket
import stat
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mcverify.errors import OutputError

__all__ = [
    "Staged",
    "atomic_write",
    "beside",
    "check_name",
    "check_target",
    "check_writable",
    "clean_stale",
    "commit_all",
    "deferred_signals",
    "is_temporary",
    "stage",
    "write_error",
    "write_new",
    "writing",
]

TEMP_SUFFIX = ".part"
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.(?P<token>[0-9a-f]{8})\.part$")
#: errno values meaning "this file system cannot make hard links".
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.EXDEV, errno.ENOSYS}
#: Bytes a temporary name adds to the final one: ``.`` + ``.<host>-<pid>.<token>.part``, the
#: pid at its longest (7 digits: Linux's largest pid_max is 4,194,304).
_TEMP_EXTRA = len(".") + len(".12345678-1234567.12345678") + len(TEMP_SUFFIX)


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{_host()}-{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def write_error(path: str | os.PathLike[str], exc: OSError) -> OutputError:
    """The one-line error of a write to ``path`` that failed with ``exc``: the file and what the errno means.

    ``No space left on device`` (ENOSPC), ``Disk quota exceeded`` (EDQUOT),
    ``Read-only file system`` (EROFS), ``Permission denied`` (EACCES), ...
    """
    return OutputError(f"{path}: cannot write the file: {exc.strerror or exc}")


@contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an :class:`OSError` raised while writing ``path`` into :func:`write_error`, naming ``path``.

    Writes, flushes and syncs raise errors that name no file (a full disk
    fails ``write`` or ``fsync``); this names the final file, not the
    temporary one.  :class:`FileExistsError` passes unchanged (the atomic
    moves rely on it).
    """
    try:
        yield
    except FileExistsError:
        raise
    except OSError as exc:
        raise write_error(path, exc) from exc


def _name_max(folder: Path) -> int:
    """The file system's limit on the bytes of one name in ``folder`` (or its nearest existing parent)."""
    for where in (folder, *folder.parents):
        try:
            return int(os.pathconf(where if str(where) else ".", "PC_NAME_MAX"))
        except (OSError, ValueError):
            continue
    return 255  # pragma: no cover - no folder on the way can be asked


def check_name(path: str | os.PathLike[str], spare: int = 0) -> None:
    """Check, before any work, that ``path``'s name and its temporary names fit the file system.

    The temporary file is named ``.<name>.<host>-<pid>.<token>.part``, 32 bytes
    longer than the name (with the longest pid); ``spare`` reserves further
    bytes (for ``-<n>`` added beside an existing file).

    Raises
    ------
    OutputError
        If the longest such name exceeds the folder's limit (``NAME_MAX``,
        255 bytes on most file systems), naming the file.
    """
    path = Path(path)
    size = len(os.fsencode(path.name))
    limit = _name_max(path.parent)
    if size + spare + _TEMP_EXTRA > limit:
        raise OutputError(
            f"{path}: the file name is too long for the file system ({size} bytes; mcverify writes through a "
            f"temporary name {_TEMP_EXTRA + spare} bytes longer, and names may have at most {limit}); "
            "use a shorter config name or output"
        )


def check_target(path: str | os.PathLike[str], spare: int = 0) -> None:
    """Check, before any work, that a file can be written at ``path`` as this module writes it.

    Its names fit the file system (:func:`check_name`), and nothing but a
    regular file or a link (which a new file replaces) is in the way.

    Raises
    ------
    OutputError
        Naming the file and what is in the way.
    """
    path = Path(path)
    check_name(path, spare)
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise OutputError(f"{path}: cannot check the output file ({exc.strerror})") from None
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return
    kind = "a folder" if stat.S_ISDIR(mode) else "a special file (FIFO, device or socket)"
    raise OutputError(f"{path}: {kind} is in the way of the output file; move it or choose another output")


def check_writable(folder: str | os.PathLike[str]) -> None:
    """Check, before any work, that files can be created in ``folder``: by creating and removing one.

    Finds a read-only file system (EROFS), a folder without permission (EACCES,
    also for root on some kernel file systems) or a full quota where
    :func:`os.access` says yes.  The probe is named like this module's
    temporary files, so a killed process leaves nothing :func:`clean_stale`
    does not remove.

    Raises
    ------
    OutputError
        Naming the folder and what the errno means.
    """
    probe = _temp_path(Path(folder) / "write-check")
    with deferred_signals():  # Ctrl-C waits until the probe is gone again
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            raise OutputError(f"{folder}: cannot write in the folder: {exc.strerror or exc}") from None
        finally:
            probe.unlink(missing_ok=True)


def is_temporary(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is named like one of mcverify's temporary files."""
    return _TEMP.match(Path(path).name) is not None


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. folders cannot be opened on this platform
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse to sync folders
        pass
    finally:
        os.close(fd)


@dataclass
class Staged:
    """A complete temporary file waiting to be moved onto its final name."""

    temp: Path
    target: Path

    def commit(self, overwrite: bool = True, target: str | os.PathLike[str] | None = None) -> Path:
        """Move the temporary file to ``target`` (by default the name it was staged for).

        Raises
        ------
        FileExistsError
            If ``overwrite`` is false and the target exists; the temporary
            file is kept, so the caller may commit it elsewhere.
        """
        final = Path(target) if target is not None else self.target
        with writing(final):
            self._move(final, overwrite)
        _sync_folder(final.parent)
        return final

    def _move(self, final: Path, overwrite: bool) -> None:
        if overwrite:
            try:  # a replaced file keeps its permissions
                os.chmod(self.temp, os.stat(final).st_mode & 0o7777)
            except OSError:
                pass
            os.replace(self.temp, final)
        else:
            _move_without_replacing(self.temp, final)

    def discard(self) -> None:
        """Remove the temporary file (nothing happens if it is gone)."""
        self.temp.unlink(missing_ok=True)


def _move_without_replacing(temp: Path, final: Path) -> None:
    try:
        os.link(temp, final)  # fails with FileExistsError if final exists: no race
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        # No hard links here (some network or FAT file systems): check, then
        # rename; another process could slip in between, which is the best
        # these file systems allow.
        if final.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(final)) from None
        os.replace(temp, final)
        return
    temp.unlink()


def stage(path: str | os.PathLike[str], data: str | bytes, temp: str | os.PathLike[str] | None = None) -> Staged:
    """Write ``data`` to a temporary file beside ``path``, flushed and synced to disk.

    ``temp`` is the temporary name to use (named as this module names them), for a
    caller that must know it before the file exists.
    """
    path = Path(path)
    temp = Path(temp) if temp is not None else _temp_path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with writing(path):
        # 0o666 and the umask, like any new file (mkstemp would make it 0o600)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    return Staged(temp, path)


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", *, overwrite: bool = True) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and move it into place on success.

    Readers never see a half-written file: either the old content (or no
    file) or the complete new one.  On error or interruption the temporary
    file is removed and ``path`` is untouched.

    Parameters
    ----------
    path : str or path-like
        The final name.
    mode : {"w", "wb"}
        Text (UTF-8, newlines untranslated) or binary.
    overwrite : bool
        When false, an existing ``path`` is never replaced:
        :class:`FileExistsError` is raised instead (checked atomically
        where the file system has hard links).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    temp = _temp_path(path)
    text: dict[str, Any] = {} if mode == "wb" else {"encoding": "utf-8", "newline": ""}
    with writing(path):
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(fd, "wb" if mode == "wb" else "w", **text) as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            Staged(temp, path).commit(overwrite)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise


def beside(path: str | os.PathLike[str], n: int) -> Path:
    """``<stem>-<n><suffix>`` next to ``path`` (``path`` itself for n = 1)."""
    path = Path(path)
    return path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")


def write_new(path: str | os.PathLike[str], data: str | bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; if it exists and ``overwrite`` is false, beside it.

    The file goes to the first of ``path``, ``<stem>-2<suffix>``,
    ``<stem>-3<suffix>``, ... that does not exist (checked atomically where
    the file system has hard links).

    Returns
    -------
    Path
        Where the data went.
    """
    staged = stage(path, data)
    try:
        if overwrite:
            return staged.commit(True)
        for n in itertools.count(1):
            try:
                return staged.commit(False, beside(path, n))
            except FileExistsError:
                continue
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        staged.discard()


@contextmanager
def deferred_signals(signums: Sequence[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Hold back SIGINT and SIGTERM for the duration, then deliver them.

    Only possible in the main thread; elsewhere it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous: dict[int, Any] = {}

    def hold(signum: int, frame: object) -> None:
        received.append(signum)

    for s in signums:
        previous[s] = signal.signal(s, hold)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        for s in dict.fromkeys(received):
            signal.raise_signal(s)


def commit_all(staged: Sequence[tuple[Staged, Path]], *, overwrite: bool) -> list[Path]:
    """Move staged files onto their targets, in order, as one step as far as signals go.

    SIGINT and SIGTERM are held back until every file is in place.  Without
    ``overwrite``, if any target exists, the files already moved by this call
    go back to their temporary names (they were new, so nothing is lost),
    every temporary file is kept, and :class:`FileExistsError` is raised.  Any other error
    removes the temporary files that were not moved.
    """
    done: list[Path] = []
    with deferred_signals():
        try:
            for item, target in staged:
                done.append(item.commit(overwrite, target))
        except FileExistsError:
            if overwrite:  # pragma: no cover - os.replace does not raise it
                raise
            for (item, _), path in zip(staged, done):
                os.replace(path, item.temp)  # made by this call: back to its temporary name
            raise
        except BaseException:
            for item, _ in staged:
                item.discard()
            raise
    return done


def clean_stale(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files that crashed or killed mcverify processes left in ``folder``.

    Only files named like this module's temporary files, made on this host
    by a process that no longer exists, are removed: a run still writing in
    the same folder keeps its own.

    Returns
    -------
    list of Path
        The files removed.
    """
    folder = Path(folder)
    host = _host()
    removed: list[Path] = []
    try:
        entries: Iterable[os.DirEntry[str]] = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m is None or m["host"] != host or not entry.is_file(follow_symlinks=False):
            continue
        if _alive(int(m["pid"])):
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:  # another cleaner was quicker
            continue
        removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or we cannot tell: keep the file
    return True
