"""A file behind a URL, for the readers of HDF5 and netCDF (h5py, h5netcdf): `RemoteFile`.

It is read in blocks of byte ranges through `pde_data.remote.fetch` (its cache and retries),
so a window of a large file costs a few requests, not the file. A server that ignores byte
ranges (HTTP Range; `python -m http.server`, the first one people start, answers every request
with the whole file) cannot be read so: `local_copy` reads such a file whole, once, streamed to
the cache with progress shown, up to `RemoteConfig.max_download_bytes`, and it is read locally
from then on. Whether a server honours ranges is asked once per process and URL, with a one-byte
request whose answer's headers tell (a whole-file body is never read to find out).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import io
import logging
import os
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union
from urllib.parse import urlsplit

from pde_data.errors import DataError
from pde_data.files import atomic_file
from pde_data.progress import progress_bar
from pde_data.remote import (RemoteConfig, cache_for, fetch, filesystem, object_info, redact, remote_config,
                             retried)

__all__ = ["RemoteFile", "local_copy"]

logger = logging.getLogger(__name__)

class RemoteFile(io.RawIOBase):
    """A read-only seekable binary file over one URL, read in blocks of `config.block_bytes`.

    Blocks come through `fetch` (so through the disk cache and its retries); the last few
    stay in memory, as HDF5 libraries read many small pieces close together. A read that
    spans several missing blocks requests them all at once. Behind a server that ignores
    byte-range requests the file is read whole once (`local_copy`) and then from that copy.
    """

    MEMORY_BLOCKS = 16

    def __init__(self, url: str, config: Union[RemoteConfig, Mapping[str, Any], None] = None) -> None:
        super().__init__()
        self.url = url
        self.config = remote_config(config)
        copy = local_copy(url, self.config)
        self._local = None if copy is None else open(copy, "rb")  # noqa: SIM115 (closed by close())
        self.size, self._tag = (os.fstat(self._local.fileno()).st_size, "") if self._local else \
            object_info(url, self.config)
        self._pos = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()

    def close(self) -> None:
        if getattr(self, "_local", None) is not None:
            self._local.close()
        super().close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        end = min(self._pos + len(view), self.size)
        if end <= self._pos:
            return 0
        n = self._copy_range(self._pos, end, view)
        self._pos = end
        return n

    def read_range(self, start: int, end: int) -> bytes:
        """Bytes `[start, end)` of the object (`end` clipped to its size)."""
        end = min(end, self.size)
        out = bytearray(max(0, end - start))
        self._copy_range(start, end, memoryview(out))
        return bytes(out)

    def _copy_range(self, start: int, end: int, out: memoryview) -> int:
        """Copy bytes `[start, end)` into `out`, block by block (no joined copy: HDF5 libraries make
        many small reads); the blocks missing from memory are fetched all at once."""
        if self._local is not None:
            self._local.seek(start)
            return self._local.readinto(out[:max(0, end - start)])
        b = self.config.block_bytes
        wanted = range(start // b, (end - 1) // b + 1) if end > start else range(0)
        missing = [k for k in wanted if k not in self._blocks]
        if missing:
            ranges = [(k * b, min((k + 1) * b, self.size)) for k in missing]
            for k, data in zip(missing, fetch([self.url] * len(missing), self.config, ranges, tag=self._tag)):
                self._blocks[k] = data
        done = 0
        for k in wanted:
            block = self._blocks[k]
            self._blocks.move_to_end(k)
            lo, hi = max(start, k * b) - k * b, min(end, (k + 1) * b) - k * b
            out[done:done + hi - lo] = memoryview(block)[lo:hi]
            done += hi - lo
        while len(self._blocks) > max(self.MEMORY_BLOCKS, len(wanted)):
            self._blocks.popitem(last=False)
        return done


#: Per process and URL: whether its server honours byte-range requests (`_honours_ranges`).
_RANGES: dict[tuple[int, str], bool] = {}
#: Per process and URL: its local copy (`local_copy`).
_COPIES: dict[tuple[int, str], Path] = {}
_SCRATCH: dict[int, Path] = {}


def local_copy(url: str, config: RemoteConfig) -> Optional[Path]:
    """A local copy of the file at `url` when its server ignores byte-range requests (HTTP Range:
    `python -m http.server` answers every request with the whole file), else None (read it in
    ranges). The copy is read once, streamed to disk with progress shown, into the cache
    (`config.cache_dir`; keyed by the URL, its size and ETag or Last-Modified, so a later run reads
    it from there) or, without one, into a temporary directory for this process. A file larger than
    `config.max_download_bytes` is a `DataError` naming the cap. Only HTTP(S) is asked: object
    stores honour ranges."""
    if url.split("://", 1)[0].lower() not in ("http", "https") or _honours_ranges(url, config):
        return None
    known = _COPIES.get((os.getpid(), url))
    if known is not None and known.exists():
        return known
    size, tag = object_info(url, config)
    if size > config.max_download_bytes:
        raise DataError(f"{redact(url)}: the server ignores byte-range requests (HTTP Range), so the file would "
                        f"be read whole, and its {_mib(size)} exceed max_download_bytes ({_mib(config.max_download_bytes)}); "
                        f"raise the cap (remote={{'max_download_bytes': {size}}}; a training dataset's options: "
                        "{remote: {max_download_bytes: N}}), serve the file from a server that honours ranges "
                        "(object stores and most web servers do, python -m http.server does not), or download it "
                        "and open the local copy")
    cache, key = cache_for(config), f"{url}|{tag}|whole"
    path = cache.entry(key) if cache is not None else None
    if path is None or path.stat().st_size != size:
        write = functools.partial(_download, url, config, size)
        path = cache.put_file(key, write) if cache is not None else _scratch_file(url, write)
    _COPIES[(os.getpid(), url)] = path
    return path


def _honours_ranges(url: str, config: RemoteConfig) -> bool:
    """Whether the server of `url` answers a one-byte range request with that byte (206), asked once
    per process: the headers alone tell, the body of a whole-file answer is never read."""
    key = (os.getpid(), url)
    if key not in _RANGES:
        from fsspec.asyn import sync

        fs, _ = filesystem(url, config)
        _RANGES[key] = retried(url, config, lambda: sync(fs.loop, _get, fs, url, config)) != 200
    return _RANGES[key]


async def _get(fs: Any, url: str, config: RemoteConfig, target: Optional[Path] = None,
               progress: Optional[Callable[[int], Any]] = None) -> int:
    """One GET of `url` on the HTTP file system `fs`: without `target`, of its first byte, and the
    status is returned (206: ranges honoured; 200: ignored) without reading a whole-file body; with
    `target`, of the whole file, streamed there (`progress(bytes so far)` after each piece) with
    `config.timeout` per read rather than for the whole body."""
    import aiohttp

    session = await fs.set_session()
    options = dict(fs.kwargs)
    headers = dict(options.pop("headers", {}))
    if target is None:
        headers["Range"] = "bytes=0-0"
    else:
        options["timeout"] = aiohttp.ClientTimeout(total=None, sock_read=config.timeout)
    async with session.get(fs.encode_url(url), headers=headers, **options) as response:
        if response.status == 404:
            raise FileNotFoundError(url)
        if response.status in (401, 403):
            raise PermissionError(url)
        if response.status != 416:  # 416: an empty file, nothing to read in ranges either way
            response.raise_for_status()
        if target is not None:
            done = 0
            with open(target, "wb") as out:
                async for piece in response.content.iter_chunked(2**20):
                    out.write(piece)
                    done += len(piece)
                    progress(done)
        return response.status


def _download(url: str, config: RemoteConfig, size: int, target: Path) -> None:
    """Stream the whole file at `url` to `target` (retried), with progress; it must be `size` bytes."""
    from fsspec.asyn import sync

    fs, _ = filesystem(url, config)
    name = urlsplit(url).path.rsplit("/", 1)[-1] or redact(url)
    logger.info("%s: the server ignores byte-range requests; reading the whole file (%s) once, then locally",
                redact(url), _mib(size))

    def attempt() -> None:
        sync(fs.loop, _get, fs, url, config, target, lambda done: bar.update(done // 2**20 - bar.n))
        if target.stat().st_size != size:
            raise OSError(f"short read: {target.stat().st_size} of {size} bytes")

    with progress_bar(total=-(-size // 2**20), desc=f"download {name}", unit="MiB") as bar:
        retried(url, config, attempt)
        bar.update(bar.total - bar.n)


def _scratch_file(url: str, write: Callable[[Path], Any]) -> Path:
    """A file for `url`'s copy in this process's temporary directory (removed when it exits),
    written by `write(tmp)`, for a `RemoteConfig` without a cache_dir."""
    pid = os.getpid()
    if pid not in _SCRATCH:
        _SCRATCH[pid] = Path(tempfile.mkdtemp(prefix="pde_data-download-"))
        atexit.register(lambda: os.getpid() == pid and shutil.rmtree(_SCRATCH[pid], ignore_errors=True))
        logger.info("no remote cache_dir: the whole-file copies of this process go to %s, removed at exit "
                    "(set remote cache_dir, CLI --cache, to keep them)", _SCRATCH[pid])
    path = _SCRATCH[pid] / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.bin"
    with atomic_file(path) as tmp:
        write(tmp)
    return path


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"
