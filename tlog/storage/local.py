"""A log in a local folder: atomic create-only writes, and compare-and-swap under an fcntl lock."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path

from tlog.errors import ConflictError, NotFoundError, StoreError

from .base import Stats, Upload, create_only
from .files import TMP_PREFIX, fsync_dir, write_atomic, write_temporary

__all__ = ["LocalStore"]


def _syncfs_call() -> Callable[[int], int] | None:
    """Linux ``syncfs(2)``: flush one file system in one call (None where there is none)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    return fn  # type: ignore[no-any-return]


_SYNCFS = _syncfs_call()


def _syncfs(root: Path) -> None:
    fd = os.open(root, os.O_RDONLY)
    try:
        if _SYNCFS is None or _SYNCFS(fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs failed")
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalStore:
    """Objects are files under ``root``; keys are relative paths with '/'."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root).resolve()
        self.url = str(self.root)
        self.stats = Stats()
        self._fsync = fsync
        self._dirs: set[Path] = set()  # folders known to exist (saves a mkdir per write)
        self._tmp: Path | None = None  # see _tmp_dir

    def __repr__(self) -> str:
        return f"LocalStore({self.url!r})"

    def local_path(self, key: str) -> Path:
        """Where an object lives on this machine (readers that map files use it)."""
        return self._path(key)

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/") or "\\" in key:
            raise StoreError("invalid object key", key=key)
        return self.root / key

    def _parent_dir(self, path: Path) -> Path:
        """The folder ``path`` goes in, made once (saves a mkdir per write)."""
        parent = path.parent
        if parent not in self._dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(parent)
        return parent

    def _tmp_dir(self) -> Path:
        """Where writes are prepared: beside the root, not in it (a write killed half-way
        must not leave a file that a folder sync would publish, such as a half-written
        checkpoint), on the same file system so that a link or rename completes it. A
        root with no such sibling (a mount point) keeps them in ``.tlog-tmp/`` inside it."""
        if self._tmp is None:
            sibling = self.root.parent / f".{self.root.name}.tlog-tmp"
            inside = self.root / ".tlog-tmp"
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                same = os.stat(self.root.parent).st_dev == os.stat(self.root).st_dev
                tmp = sibling if same and os.access(self.root.parent, os.W_OK) else inside
                tmp.mkdir(exist_ok=True)
            except OSError:
                tmp = inside
                tmp.mkdir(parents=True, exist_ok=True)
            self._tmp = tmp
        return self._tmp

    def sweep_temporary(self, older_than: float = 60.0) -> int:
        """Delete temporary files of writes that died (their process is gone, and they are
        older than ``older_than`` seconds); how many. The sequencer calls this each run."""
        gone = 0
        now = time.time()
        for d in (self.root.parent / f".{self.root.name}.tlog-tmp", self.root / ".tlog-tmp"):
            for entry in list(os.scandir(d)) if d.is_dir() else []:
                pid = entry.name.removeprefix(TMP_PREFIX).split("-", 1)[0]
                try:
                    if pid.isdigit() and _alive(int(pid)):
                        continue
                    if now - entry.stat().st_mtime > older_than:
                        os.unlink(entry.path)
                        gone += 1
                except OSError:
                    continue
        return gone

    def _write_tmp(self, path: Path, data: bytes, sync: bool = True) -> Path:
        """A new, uniquely named temporary file holding ``data``, for ``path``."""
        self._parent_dir(path)
        return write_temporary(self._tmp_dir(), data, durable=self._fsync and sync)

    def put(self, key: str, data: bytes, upload: Upload | None = None) -> None:
        path = self._path(key)
        self.stats.puts += 1

        def create() -> None:
            try:
                tmp = self._write_tmp(path, data)
                try:
                    os.link(tmp, path)  # atomic create-only: fails if the name exists
                except FileExistsError:
                    raise ConflictError("exists", key=key) from None
                finally:
                    os.unlink(tmp)
                if self._fsync:
                    fsync_dir(path.parent)
            except OSError as e:
                raise StoreError(f"write failed: {e.strerror}", key=key) from e

        create_only(create, self.get, key, data)

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Create-only writes of many objects, made durable together: write every file, one
        ``syncfs``, link them all into place, one more ``syncfs`` (rather than two fsyncs
        per file). Where there is no syncfs, one ``put`` after another."""
        if not self._fsync or _SYNCFS is None or len(items) <= 1:
            for key, data in items:
                self.put(key, data)
            return
        staged: list[tuple[str, bytes, Path, Path]] = []
        try:
            for key, data in items:
                path = self._path(key)
                self.stats.puts += 1
                try:
                    staged.append((key, data, path, self._write_tmp(path, data, sync=False)))
                except OSError as e:
                    raise StoreError(f"write failed: {e.strerror}", key=key) from e
            self._sync(items[0][0])
            for key, data, path, tmp in staged:
                create_only(partial(self._link, tmp, path, key), self.get, key, data)
            self._sync(items[0][0])
        finally:
            for *_, tmp in staged:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def link_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Create-only copies ``source → key`` of objects in this folder, made durable together:
        hard links, so no byte is written twice (objects are immutable, so a link is a copy).
        A key already holding the same bytes is success, other bytes a conflict; a source
        already gone is success if its key exists (an earlier attempt linked it, then cleaned
        up). The sequencer stages a batch's objects as files and applies them this way."""
        for source, key in pairs:
            src, path = self._path(source), self._path(key)
            self.stats.links += 1
            self._parent_dir(path)
            try:
                self._link(src, path, key)
            except ConflictError:
                if not src.exists() or self.get(source) == self.get(key):
                    continue
                raise ConflictError("exists with different content", key=key) from None
            except StoreError:
                if src.exists() or not path.exists():
                    raise
        if self._fsync and pairs:
            if _SYNCFS is None:
                for d in {self._path(k).parent for _, k in pairs}:
                    fsync_dir(d)
            else:
                self._sync(pairs[0][1])

    def _link(self, tmp: Path, path: Path, key: str) -> None:
        try:
            os.link(tmp, path)  # atomic create-only: fails if the name exists
        except FileExistsError:
            raise ConflictError("exists", key=key) from None
        except OSError as e:
            raise StoreError(f"write failed: {e.strerror}", key=key) from e

    def _sync(self, key: str) -> None:
        try:
            _syncfs(self.root)
        except OSError as e:
            raise StoreError(f"sync failed: {e.strerror}", key=key) from e

    def overwrite(self, key: str, data: bytes, upload: Upload | None = None) -> None:
        path = self._path(key)
        self.stats.puts += 1
        try:
            self._parent_dir(path)
            write_atomic(path, data, durable=self._fsync, tmp_dir=self._tmp_dir())
        except OSError as e:
            raise StoreError(f"write failed: {e.strerror}", key=key) from e

    def get(self, key: str) -> bytes:
        self.stats.gets += 1
        try:
            # Non-blocking, so that a FIFO or device planted under a key cannot hang the
            # reader; only a regular file is an object.
            fd = os.open(self._path(key), os.O_RDONLY | os.O_NONBLOCK)
            with open(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise NotFoundError("not a regular file", key=key)
                data = f.read()
                self.stats.bytes_read += len(data)
                return data
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFoundError("not found", key=key) from None
        except OSError as e:
            raise StoreError(f"read failed: {e.strerror}", key=key) from e

    def get_range(self, key: str, start: int, end: int) -> bytes:
        self.stats.gets += 1
        try:
            with open(self._path(key), "rb") as f:
                f.seek(start)
                data = f.read(max(0, end - start))
                self.stats.bytes_read += len(data)
                return data
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFoundError("not found", key=key) from None
        except OSError as e:
            raise StoreError(f"read failed: {e.strerror}", key=key) from e

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        # One thread: a small local read is ~15 µs, far less than a thread pool's hand-off.
        out: list[bytes | None] = []
        for key in keys:
            try:
                out.append(self.get(key))
            except NotFoundError:
                out.append(None)
        return out

    def exists(self, key: str) -> bool:
        self.stats.heads += 1
        return self._path(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        self.stats.lists += 1
        base = self.root
        out = []
        for dirpath, dirnames, filenames in os.walk(base):
            rel = os.path.relpath(dirpath, base)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            if not (rel.startswith(prefix) or prefix.startswith(rel)):
                dirnames[:] = []
                continue
            for name in filenames:
                key = rel + name
                if (key.startswith(prefix) and not name.startswith((TMP_PREFIX, ".lock"))
                        and _regular(os.path.join(dirpath, name))):
                    out.append(key)
        return iter(sorted(out))

    def delete(self, key: str) -> None:
        self.stats.deletes += 1
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass
        except OSError as e:
            raise StoreError(f"delete failed: {e.strerror}", key=key) from e

    def delete_many(self, keys: Sequence[str]) -> None:
        for key in keys:  # unlink is cheap; threads would only add hand-offs
            self.delete(key)

    # ----- compare-and-swap ----------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(path.parent / f".lock-{path.name}", "a")  # noqa: SIM115 (closed below)
        except OSError as e:  # the folder is a file, or not ours to write
            where = " (is the log's folder a file?)" if isinstance(e, NotADirectoryError) else ""
            raise StoreError(f"cannot lock: {e.strerror}{where}", key=key) from e
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _version(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def fetch(self, key: str) -> tuple[bytes, str]:
        data = self.get(key)
        return data, self._version(data)

    def create(self, key: str, data: bytes, upload: Upload | None = None) -> str:
        with self._locked(key):
            if self._path(key).exists():
                raise ConflictError("already exists", key=key)
            self.overwrite(key, data, upload)
        return self._version(data)

    def replace(self, key: str, old_version: str, data: bytes, upload: Upload | None = None) -> str:
        with self._locked(key):
            try:
                current = self._path(key).read_bytes()
            except FileNotFoundError:
                raise ConflictError("does not exist", key=key) from None
            if self._version(current) != old_version:
                raise ConflictError("changed since it was read", key=key)
            self.overwrite(key, data, upload)
        return self._version(data)


def _regular(path: str) -> bool:
    """Whether ``path`` is a regular file (a FIFO, socket or device is never an object)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False
