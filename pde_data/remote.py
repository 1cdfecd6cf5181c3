"""Data where it lives: read fsspec URLs with retries, a bounded timeout and a local cache.

Every reader that can read remotely (the canonical store, The Well, PDEBench,
netCDF) takes an fsspec URL where it takes a path: `https://...`, `s3://...`,
`gs://...`, `hf://datasets/...` (each needs its fsspec backend; `http(s)` comes
with the install, the others with the `remote` extra). `file://` URLs are local
paths. This module and `pde_data.remote_file` are the one place that talks to the network:

- `RemoteConfig`: timeout, retries, the read-through cache directory and its
  size cap, block size, concurrency. Readers take it as `remote=` (a
  `RemoteConfig` or a mapping of its fields).
- `fetch(urls, config, ranges=...)`: whole objects or byte ranges, all at once
  (concurrent requests on async backends such as HTTP), each failed request
  retried with backoff, each range checked for its length. What still fails
  is a `DataError` naming the URL and what went wrong.
- `object_info(url, config)`: size and version tag (ETag, else Last-Modified) of one
  object, for cache keys that a changed object does not match.
- `pde_data.remote_file.RemoteFile`: a read-only, seekable binary file over one URL,
  read in blocks through `fetch`, for h5py and xarray: a window of an HDF5 file costs
  a few range requests, not the whole file; behind a server that ignores byte ranges
  (`python -m http.server`) the file is read whole, once, into the cache, up to
  `RemoteConfig.max_download_bytes` (`pde_data.remote_file.local_copy`).
- `BlockCache`: the read-through cache under `RemoteConfig.cache_dir`: one
  file per object or block, written atomically (an interrupted download is
  never kept), least recently used removed past the size cap. Several loader
  workers and processes can share one directory.

Credentials come from the backend's own configuration (`~/.aws`, `gcloud`,
`huggingface-cli login`, `.netrc`, ...); a URL carrying a password is refused,
so that none ends up in a config file, a checkpoint or a log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union
from urllib.parse import urlsplit, urlunsplit

from pde_data.errors import DataError
from pde_data.files import atomic_file

__all__ = ["BlockCache", "RemoteConfig", "fetch", "is_url", "list_files", "local_path", "object_info",
           "remote_config"]

logger = logging.getLogger(__name__)

#: Exceptions that mean "the object is not there": never retried.
_NOT_THERE = (FileNotFoundError, PermissionError, IsADirectoryError)


@dataclass(frozen=True)
class RemoteConfig:
    """How remote data is read.

    timeout: seconds one request may take before it counts as failed (HTTP: the whole request).
    retries: further tries of a failed request (connection refused or dropped, timeout, 5xx, a
        short read), with `backoff * 2**attempt` seconds between them. A missing object (404) is
        not retried.
    cache_dir: the read-through cache (None: no disk cache, only a small in-memory one per file).
    cache_bytes: the cache's size cap; the least recently used entries go past it.
    block_bytes: the block size of `RemoteFile` (HDF5 and netCDF files are read in such blocks).
    concurrency: requests in flight at once from one process.
    max_download_bytes: the largest file read whole when its server ignores byte-range requests
        (`pde_data.remote_file.local_copy`); a larger one is refused with a `DataError` naming this cap.
    """

    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.25
    cache_dir: Optional[str] = None
    cache_bytes: int = 20 * 2**30
    block_bytes: int = 2**20
    concurrency: int = 32
    max_download_bytes: int = 4 * 2**30

    def __post_init__(self) -> None:
        checks = {"timeout": self.timeout > 0, "retries": self.retries >= 0, "backoff": self.backoff >= 0,
                  "cache_bytes": self.cache_bytes > 0, "block_bytes": self.block_bytes >= 4096,
                  "concurrency": self.concurrency >= 1, "max_download_bytes": self.max_download_bytes >= 0}
        for name, ok in checks.items():
            if not ok:
                raise DataError(f"remote option {name} = {getattr(self, name)!r} is out of range "
                                "(timeout > 0, retries >= 0, backoff >= 0, cache_bytes > 0, block_bytes >= 4096, "
                                "concurrency >= 1, max_download_bytes >= 0)")
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", os.fspath(os.path.expanduser(self.cache_dir)))


def remote_config(value: Union[RemoteConfig, Mapping[str, Any], None]) -> RemoteConfig:
    """A `RemoteConfig` from itself, a mapping of its fields, or None (the defaults)."""
    if value is None:
        return RemoteConfig()
    if isinstance(value, RemoteConfig):
        return value
    if isinstance(value, Mapping):
        known = {f.name for f in dataclasses.fields(RemoteConfig)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise DataError(f"remote options {unknown} are not known; use {sorted(known)}")
        return RemoteConfig(**value)
    raise DataError(f"remote= must be a RemoteConfig or a mapping of its fields, got {type(value).__name__}")


def is_url(path: Any) -> bool:
    """True for an fsspec URL other than `file://` (those are local paths)."""
    return isinstance(path, str) and "://" in path and not path.startswith("file://")


def local_path(path: str) -> str:
    """`file:///a/b` -> `/a/b`; anything else unchanged."""
    return path[len("file://"):] if isinstance(path, str) and path.startswith("file://") else path


def redact(url: str) -> str:
    """The URL without a user name or query string (which may carry tokens), for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_url(url: str) -> None:
    """Refuse a URL that carries a password: credentials belong in the backend's configuration."""
    if urlsplit(url).password is not None:
        raise DataError(f"{redact(url)}: the URL carries a password; remove it and give the credentials the "
                        "way the storage backend reads them (.netrc for HTTP, ~/.aws for s3://, gcloud for gs://, "
                        "huggingface-cli login for hf://), so that they never land in a config, checkpoint or log")


# --- file systems, one per protocol and process ---------------------------------------------

_FILESYSTEMS: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def filesystem(url: str, config: RemoteConfig) -> tuple[Any, str]:
    """The fsspec file system for `url` (made once per process, protocol and timeout) and the path in it."""
    import fsspec

    check_url(url)
    protocol = url.split("://", 1)[0]
    key = (os.getpid(), protocol, config.timeout)
    options: dict[str, Any] = {}
    if protocol in ("http", "https"):
        import aiohttp

        options["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(total=config.timeout)}
    with _LOCK:
        fs = _FILESYSTEMS.get(key)
        if fs is None:
            try:
                fs = fsspec.filesystem(protocol, skip_instance_cache=True, **options)
            except (ImportError, ValueError) as err:
                raise DataError(f"{redact(url)}: no fsspec backend for {protocol}:// ({err}); install it, e.g. "
                                "pip install 'morph-pde[remote]' (s3fs, gcsfs, huggingface_hub)") from err
            _FILESYSTEMS[key] = fs
    return fs, fs._strip_protocol(url) if protocol not in ("http", "https") else url


# --- the cache ----------------------------------------------------------------------------------


class BlockCache:
    """A size-capped directory of cached objects and blocks, shared safely between processes.

    Each entry is one file named by a hash of its key, written atomically; a read refreshes its
    modification time, and when the entries written by this process since the last sweep could
    have taken the directory past `cap_bytes`, the least recently used entries are removed
    until it is back under 90 % of the cap (a file another process removed first is skipped).
    """

    def __init__(self, directory: Union[str, os.PathLike], cap_bytes: int) -> None:
        self.directory = Path(directory)
        self.cap_bytes = int(cap_bytes)
        self._written = 0
        self._size: Optional[int] = None
        self._lock = threading.Lock()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DataError(f"remote cache {self.directory}: cannot create it ({err}); pass another "
                            "cache_dir (CLI: --cache DIR)") from err

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.directory / digest[:2] / f"{digest[2:34]}.bin"

    def get(self, key: str) -> Optional[bytes]:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            os.utime(path)
        except OSError:
            pass
        return data

    def put(self, key: str, data: bytes) -> None:
        try:
            self.put_file(key, lambda tmp: tmp.write_bytes(data))
        except OSError as err:  # a full disk must not stop training: the data is in hand
            logger.warning("remote cache %s: could not store an entry (%s)", self.directory, err)

    def put_file(self, key: str, write: Callable[[Path], Any]) -> Path:
        """The entry of `key`, written by `write(tmp)` into a temporary file that becomes the entry
        when complete (a whole file streamed from the network, never held in memory); its path."""
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        with atomic_file(path) as tmp:
            write(tmp)
        with self._lock:
            self._written += path.stat().st_size
            if self._size is None or self._size + self._written > self.cap_bytes:
                self._sweep(keep=path)
        return path

    def entry(self, key: str) -> Optional[Path]:
        """The file of `key`'s entry (its use noted for the LRU order), or None when there is none."""
        path = self._path(key)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        except OSError:
            pass
        return path

    def _sweep(self, keep: Optional[Path] = None) -> None:
        entries = []
        for path in self.directory.glob("*/*.bin"):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            entries.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in entries)
        if total > self.cap_bytes:
            for _, size, path in sorted(entries, key=lambda e: e[0]):
                if total <= 0.9 * self.cap_bytes:
                    break
                if path == keep:  # the entry just written, in use (a whole file larger than the cap)
                    continue
                path.unlink(missing_ok=True)
                total -= size
        self._size, self._written = total, 0

    def size(self) -> int:
        """Bytes in the cache now."""
        return sum(p.stat().st_size for p in self.directory.glob("*/*.bin") if p.exists())


_CACHES: dict[tuple, BlockCache] = {}


def cache_for(config: RemoteConfig) -> Optional[BlockCache]:
    if config.cache_dir is None:
        return None
    key = (os.getpid(), config.cache_dir, config.cache_bytes)
    with _LOCK:
        if key not in _CACHES:
            _CACHES[key] = BlockCache(config.cache_dir, config.cache_bytes)
        return _CACHES[key]


# --- fetching -----------------------------------------------------------------------------------

Range = Optional[tuple[int, int]]


def fetch(urls: Sequence[str], config: RemoteConfig, ranges: Optional[Sequence[Range]] = None,
          missing_ok: bool = False, tag: str = "", use_cache: bool = True,
          check: Optional[Callable[[bytes], Optional[str]]] = None) -> list[Optional[bytes]]:
    """The bytes of each URL (or of its byte range `[start, end)`), in order, from the cache where it
    has them and else from the network: all requests of one call in flight at once (on async
    backends), each failure retried `config.retries` times.

    A range must come back whole (`end - start` bytes: callers clip ranges to the object's size).
    `missing_ok`: an object that is not there gives None instead of a `DataError`. `tag` goes into
    the cache key (e.g. the object's size or ETag, so that a changed object is not served stale).
    `use_cache=False` neither reads nor fills the cache (metadata that may change). `check(data)`
    returns what is wrong with an object (e.g. "truncated") or None: such an object is retried
    and never cached.
    """
    ranges = list(ranges) if ranges is not None else [None] * len(urls)
    cache = cache_for(config) if use_cache else None
    keys = [f"{url}|{tag}|{r[0]}-{r[1]}" if r else f"{url}|{tag}" for url, r in zip(urls, ranges)]
    out: list[Optional[bytes]] = [cache.get(k) if cache else None for k in keys]
    todo = [i for i, data in enumerate(out) if data is None]
    failures: dict[int, BaseException] = {}
    for attempt in range(config.retries + 1):
        if not todo:
            break
        if attempt:
            time.sleep(config.backoff * 2 ** (attempt - 1))
        results = _request([urls[i] for i in todo], [ranges[i] for i in todo], config)
        retry = []
        for i, result in zip(todo, results):
            if isinstance(result, BaseException):
                failures[i] = result
                if not isinstance(result, _NOT_THERE):
                    retry.append(i)
                continue
            want = ranges[i][1] - ranges[i][0] if ranges[i] else None
            if want is not None and len(result) > want:  # the whole object: no use retrying
                raise DataError(f"{redact(urls[i])}: the server ignores byte-range requests (HTTP Range: it sent "
                                f"{len(result)} bytes for a range of {want}); serve the file from a server that "
                                "honours them (object stores and most web servers do, python -m http.server does "
                                "not), or download it and open the local copy")
            if want is not None and len(result) != want:
                failures[i] = OSError(f"short read: {len(result)} of {want} bytes of range {ranges[i]}")
                retry.append(i)
                continue
            problem = check(result) if check is not None else None
            if problem:
                failures[i] = OSError(problem)
                retry.append(i)
                continue
            out[i] = bytes(result)
            failures.pop(i, None)
            if cache:
                cache.put(keys[i], out[i])
        todo = retry
    for i, err in failures.items():
        if isinstance(err, FileNotFoundError) and missing_ok:
            continue
        raise _failed(urls[i], err, config) from err
    return out


def _failed(url: str, err: BaseException, config: RemoteConfig) -> DataError:
    """The error of a request to `url` that failed with `err` (after its retries, if retried)."""
    what = "not found" if isinstance(err, FileNotFoundError) else \
        "access denied" if isinstance(err, PermissionError) else \
        f"failed after {config.retries + 1} tries, {config.timeout:g} s timeout each"
    return DataError(f"{redact(url)}: {what} ({type(err).__name__}: {err}); check the URL and the "
                     "server, or raise timeout/retries (remote={'timeout': ..., 'retries': ...})")


def _request(urls: list[str], ranges: list[Range], config: RemoteConfig) -> list[Any]:
    """One try of every request: the bytes or the exception, per URL."""
    if not urls:
        return []
    fs, _ = filesystem(urls[0], config)
    paths = [filesystem(u, config)[1] for u in urls]
    starts = [r[0] if r else None for r in ranges]
    ends = [r[1] if r else None for r in ranges]
    try:
        if getattr(fs, "async_impl", False):
            return fs.cat_ranges(paths, starts, ends, on_error="return", batch_size=config.concurrency)
        return [_one(fs, p, s, e) for p, s, e in zip(paths, starts, ends)]
    except Exception as err:  # the call itself failed (session setup, event loop): every request did
        return [err] * len(urls)


def _one(fs: Any, path: str, start: Optional[int], end: Optional[int]) -> Any:
    try:
        return fs.cat_file(path, start=start, end=end)
    except Exception as err:
        return err


def retried(url: str, config: RemoteConfig, call: Callable[[], Any]) -> Any:
    """`call()`, tried again after a failure up to `config.retries` times with backoff; a missing
    object (not retried) or the last failure is a `DataError` naming `url`."""
    last: Optional[BaseException] = None
    for attempt in range(config.retries + 1):
        if attempt:
            time.sleep(config.backoff * 2 ** (attempt - 1))
        try:
            return call()
        except _NOT_THERE as err:
            raise _failed(url, err, config) from err
        except DataError:
            raise
        except Exception as err:
            last = err
    raise _failed(url, last, config) from last


def object_info(url: str, config: RemoteConfig) -> tuple[int, str]:
    """`(size in bytes, version tag)` of one object (HEAD or the backend's equivalent), retried. The
    tag (size and ETag, else the modification time: HTTP Last-Modified) goes into cache keys, so a
    changed object is not served stale."""
    fs, path = filesystem(url, config)
    info = retried(url, config, lambda: fs.info(path))
    size = info.get("size")
    if size is None:
        raise DataError(f"{redact(url)}: the server does not say the object's size; it cannot be read "
                        "in ranges (download it and open the local file)")
    tag = next((str(info[k]) for k in ("ETag", "etag", "mtime", "LastModified", "Last-Modified") if info.get(k)), "")
    return int(size), f"{size}:{tag}"


def list_files(url: str, config: RemoteConfig, suffixes: Sequence[str]) -> list[str]:
    """The URLs of the files directly under the directory `url` whose names end in `suffixes`, sorted."""
    fs, path = filesystem(url, config)
    try:
        names = fs.ls(path, detail=False)
    except _NOT_THERE as err:
        raise DataError(f"{redact(url)}: not found; check the URL") from err
    except Exception as err:
        raise DataError(f"{redact(url)}: cannot list it ({type(err).__name__}: {err}); name one file instead") from err
    protocol = url.split("://", 1)[0]
    full = [n if "://" in n else f"{protocol}://{n}" for n in names]
    return sorted(u for u in full if u.rstrip("/").lower().endswith(tuple(suffixes)))
