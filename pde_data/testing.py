"""A local HTTP file server for tests and benchmarks of remote reading.

    with serve_directory(root, latency=0.02) as server:
        ds = pde_data.open(server.url("data/sw.zarr"))
        server.requests          # requests answered so far

It serves the files under `root` on 127.0.0.1 (a free port) from a thread,
as object stores and static web servers do: `GET` with single byte ranges
(`Range: bytes=a-b`, answered 206), `HEAD` with the size and an ETag, 404 for
what is not there, and an HTML listing of a directory's entries (what fsspec's
HTTP file system lists). `latency` adds that many seconds before every answer.
`fault(handler) -> bool` may answer a request itself (return True) to inject a
failure: an error status, a dropped connection, a short body, no answer.
"""

from __future__ import annotations

import html
import os
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator, Optional
from urllib.parse import quote, unquote, urlsplit

__all__ = ["FileServer", "serve_directory"]


class FileServer(ThreadingHTTPServer):
    """The server `serve_directory` runs: `url(relative)` is the URL of a file or directory under
    the served root; `requests` counts the requests answered."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # many concurrent connections, as a real server takes them

    def __init__(self, root: Path, latency: float = 0.0,
                 fault: Optional[Callable[["_Handler"], bool]] = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root, self.latency, self.fault = Path(root).resolve(), latency, fault
        self.requests = 0
        self._count_lock = threading.Lock()
        self.connections: set = set()

    def close_connections(self) -> None:
        """Close the kept-alive connections too, so a stopped server answers nothing at all."""
        for connection in list(self.connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def url(self, relative: str = "") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{quote(relative.lstrip('/'))}"


class _Handler(BaseHTTPRequestHandler):
    server: FileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        with self.server._count_lock:
            self.server.requests += 1
        if self.server.latency:
            time.sleep(self.server.latency)
        if self.server.fault is not None and self.server.fault(self):
            return
        path = self.local_path()
        if path is None or not path.exists():
            self.send_error(404)
            return
        if path.is_dir():
            self._listing(path, body)
            return
        size = path.stat().st_size
        start, end = 0, size
        ranged = self.headers.get("Range")
        if ranged and ranged.startswith("bytes="):
            first, _, last = ranged[len("bytes="):].partition("-")
            if first:
                start, end = int(first), min(size, int(last) + 1) if last else size
            else:  # a suffix range: the last N bytes
                start = max(0, size - int(last))
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(206 if ranged else 200)
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("ETag", f'"{int(path.stat().st_mtime_ns)}-{size}"')
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if body:
            with open(path, "rb") as f:
                f.seek(start)
                self.wfile.write(f.read(end - start))

    def local_path(self) -> Optional[Path]:
        relative = unquote(urlsplit(self.path).path).lstrip("/")
        path = (self.server.root / relative).resolve()
        return path if path == self.server.root or self.server.root in path.parents else None

    def _listing(self, path: Path, body: bool) -> None:
        base = "/" + str(path.relative_to(self.server.root)).strip(".").strip("/")
        links = "".join(f'<a href="{quote(base.rstrip("/") + "/" + e.name)}">{html.escape(e.name)}</a>\n'
                        for e in sorted(path.iterdir()))
        data = f"<html><body>\n{links}</body></html>\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


@contextmanager
def serve_directory(root: os.PathLike | str, latency: float = 0.0,
                    fault: Optional[Callable[[_Handler], bool]] = None) -> Iterator[FileServer]:
    """Serve `root` over HTTP on 127.0.0.1 for the duration of the block."""
    server = FileServer(Path(root), latency=latency, fault=fault)
    thread = threading.Thread(target=server.serve_forever, name="pde_data-file-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        server.close_connections()
        thread.join(timeout=5)
