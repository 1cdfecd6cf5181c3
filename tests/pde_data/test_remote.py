"""Remote data: every reader that reads URLs, against a real HTTP server on 127.0.0.1.

The server (`pde_data.testing.serve_directory`) serves fixture files written in
the real source layouts; a fault hook injects the failures a network has.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import socket
import threading
import time
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import pde_data
from pde_data import DataError, DatasetSpec, FieldSpec, PDEDataset, WindowDataset, collate
import pde_data.remote_file as remote_file
from pde_data.remote import BlockCache, RemoteConfig, remote_config
from pde_data.remote_file import RemoteFile
from pde_data.testing import serve_directory
from tests.pde_data import fixtures

FAST = {"timeout": 2.0, "retries": 1, "backoff": 0.01}


def _store(root: Path, n: int = 4, t: int = 12, grid: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {"u": rng.standard_normal((n, t, 1, grid, grid)).astype(np.float32),
              "velocity": rng.standard_normal((n, t, 2, grid, grid)).astype(np.float32)}
    spec = DatasetSpec("remote_test", (grid, grid), (FieldSpec("u", 1), FieldSpec("velocity", 2)), n, t, dt=0.1,
                       boundary_conditions=("periodic", "wall"))
    pde_data.convert(PDEDataset(spec, arrays), root / "data.zarr", progress=False)
    return arrays


@pytest.fixture()
def served(tmp_path):
    arrays = _store(tmp_path)
    with serve_directory(tmp_path) as server:
        yield server, arrays, tmp_path


def test_store_over_http_reads_every_window_exactly(served):
    server, arrays, _ = served
    ds = pde_data.open(server.url("data.zarr"), remote=FAST)
    assert ds.spec.name == "remote_test" and ds.spec.boundary_conditions == ("periodic", "wall")
    for i in range(4):
        block = ds.read(i, slice(3, 9))
        for name in arrays:
            np.testing.assert_array_equal(block[name], arrays[name][i, 3:9])
    np.testing.assert_array_equal(np.asarray(ds.fields["u"][1:3, 2:4]), arrays["u"][1:3, 2:4])


def test_store_second_read_comes_from_the_cache(served, tmp_path_factory):
    server, arrays, _ = served
    cache = tmp_path_factory.mktemp("cache")
    ds = pde_data.open(server.url("data.zarr"), remote={**FAST, "cache_dir": str(cache)})
    first = ds.read(2, slice(0, 12))
    before = server.requests
    again = pde_data.open(server.url("data.zarr"), remote={**FAST, "cache_dir": str(cache)})
    opened = server.requests - before  # the group's zarr.json is always asked again (it may change)
    second = again.read(2, slice(0, 12))
    assert server.requests - before == opened <= 3  # reachability, detection, open; the chunks: none
    np.testing.assert_array_equal(second["velocity"], first["velocity"])
    assert any(cache.rglob("*.bin"))


def test_store_auto_detected_from_the_url_and_pickles_for_workers(served):
    server, arrays, _ = served
    ds = pde_data.open(server.url("data.zarr"))
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone.read(3, slice(0, 2))["u"], arrays["u"][3, :2])


def test_loader_with_two_workers_over_http(served):
    server, arrays, _ = served
    ds = pde_data.open(server.url("data.zarr"), remote=FAST)
    windows = WindowDataset(ds, history=3, split="all")
    loader = DataLoader(windows, batch_size=8, shuffle=False, collate_fn=collate, num_workers=2)
    seen = 0
    for batch in loader:
        for b in range(len(batch)):
            traj, start = int(batch.traj[b]), int(batch.start[b])
            want = arrays["u"][traj, start + 3, 0]
            np.testing.assert_allclose(batch.y[b, 0, 0, 0].numpy(), want, rtol=1e-6)
        seen += len(batch)
    assert seen == len(windows)


def test_well_file_over_http(tmp_path):
    expected = fixtures.write_well(str(tmp_path / "shear.hdf5"), d=2)
    local = pde_data.open(tmp_path / "shear.hdf5")
    with serve_directory(tmp_path) as server:
        ds = pde_data.open(server.url("shear.hdf5"), remote={**FAST, "block_bytes": 4096})
        assert ds.spec.format == "the_well" and ds.spec.fields == local.spec.fields
        assert ds.spec.boundary_conditions == local.spec.boundary_conditions
        for name, values in expected.items():
            np.testing.assert_allclose(ds.read(1, slice(1, 4))[name], values[1, 1:4], rtol=1e-6)
        # a directory the server lists opens as one dataset of its files
        ds_dir = pde_data.open(server.url(""), format="the_well", remote=FAST)
        assert len(ds_dir) == len(local)


def test_pdebench_and_netcdf_over_http(tmp_path):
    cfd = fixtures.write_pdebench_cfd(str(tmp_path / "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_Train.hdf5"))
    nc = fixtures.write_netcdf(str(tmp_path / "flow.nc"))
    with serve_directory(tmp_path) as server:
        ds = pde_data.open(server.url("2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_Train.hdf5"), remote=FAST)
        assert ds.spec.format == "pdebench"
        for name, values in cfd.items():
            np.testing.assert_allclose(ds.read(0, slice(0, 3))[name], values[0, :3], rtol=1e-6)
        flow = pde_data.open(server.url("flow.nc"), remote=FAST)
        for name, values in nc.items():
            np.testing.assert_allclose(flow.read(1)[name], values[1], rtol=1e-6)


def test_hdf5_window_costs_a_few_range_requests_not_the_file(tmp_path):
    fixtures.write_well(str(tmp_path / "big.hdf5"), d=2, n=8, t=40)
    size = (tmp_path / "big.hdf5").stat().st_size
    with serve_directory(tmp_path) as server:
        ds = pde_data.open(server.url("big.hdf5"), remote={**FAST, "block_bytes": 4096})
        before = server.requests
        ds.read(5, slice(10, 14))
        assert 0 < server.requests - before <= 8
        assert 4096 * (server.requests - before) < size / 4


def test_remote_file_reads_any_range_exactly(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, 50_001, dtype=np.uint8).tobytes()
    (tmp_path / "blob.bin").write_bytes(data)
    with serve_directory(tmp_path) as server:
        f = RemoteFile(server.url("blob.bin"), {**FAST, "block_bytes": 4096})
        assert f.size == len(data)
        for start, end in [(0, 1), (4095, 4097), (10_000, 30_000), (49_990, 50_001), (0, 50_001)]:
            assert f.read_range(start, end) == data[start:end]
        f.seek(-10, 2)
        assert f.read() == data[-10:]


def test_urls_with_a_password_are_refused_before_any_request(served):
    server, _, _ = served
    url = server.url("data.zarr").replace("http://", "http://alice:secret@")
    before = server.requests
    with pytest.raises(DataError, match="password") as err:
        pde_data.open(url)
    assert "secret" not in str(err.value) and server.requests == before


def test_unrecognised_url_and_local_only_readers(served):
    server, _, _ = served
    with pytest.raises(DataError, match="format not recognised"):
        pde_data.open(server.url("data.bin"))
    with pytest.raises(DataError, match="local files only"):
        pde_data.open(server.url("x.npy"), format="arrays")


def test_bad_remote_options_are_named():
    with pytest.raises(DataError, match="not known"):
        remote_config({"timout": 3})
    with pytest.raises(DataError, match="timeout"):
        RemoteConfig(timeout=0)


# --- faults ------------------------------------------------------------------------------------


def test_missing_object_is_a_clear_error(served):
    server, _, _ = served
    with pytest.raises(DataError, match="not found"):
        pde_data.open(server.url("nothing.zarr"), format="store", remote=FAST)


def test_unreachable_host_fails_after_bounded_retries():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"failed after 2 tries"):
        pde_data.open(f"http://127.0.0.1:{port}/data.zarr", format="store", remote=FAST)
    assert time.perf_counter() - start < 10


def _faulty(served, kind: str, times: int):
    """Serve with the first `times` requests for chunk objects answered by fault `kind`."""
    server, arrays, root = served
    server.shutdown()
    remaining = {"n": times}
    lock = threading.Lock()

    def fault(handler) -> bool:
        if "/c/" not in handler.path:
            return False
        with lock:
            if remaining["n"] <= 0:
                return False
            remaining["n"] -= 1
        path = handler.local_path()
        body = path.read_bytes()
        if kind == "500":
            handler.send_error(500)
        elif kind == "drop":  # promise the whole body, send half, close
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body[: len(body) // 2])
            handler.close_connection = True
        elif kind == "truncated":  # a short object, honestly sized
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(body) // 2))
            handler.end_headers()
            handler.wfile.write(body[: len(body) // 2])
        elif kind == "hang":
            time.sleep(3)
            handler.close_connection = True
        return True

    return serve_directory(root, fault=fault), arrays


@pytest.mark.parametrize("kind", ["500", "drop", "truncated"])
def test_a_transient_fault_is_retried_and_never_cached(served, kind, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    context, arrays = _faulty(served, kind, times=1)
    with context as server:
        ds = pde_data.open(server.url("data.zarr"), remote={**FAST, "cache_dir": str(cache)})
        np.testing.assert_array_equal(ds.read(0, slice(0, 12))["u"], arrays["u"][0])
    entries = [p.read_bytes() for p in cache.rglob("*.bin")]
    chunks = [raw for raw in entries if not raw.startswith(b"{")]  # the rest: zarr.json metadata
    assert chunks and all(int(np.frombuffer(raw[12:16], "<u4")[0]) == len(raw) for raw in chunks)


@pytest.mark.parametrize("kind", ["500", "truncated", "hang"])
def test_a_lasting_fault_is_a_data_error_naming_the_url(served, kind, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    context, _ = _faulty(served, kind, times=100)
    with context as server:
        ds = pde_data.open(server.url("data.zarr"), remote={**FAST, "timeout": 1.0, "cache_dir": str(cache)})
        start = time.perf_counter()
        with pytest.raises(DataError, match=r"data\.zarr/fields/.*failed after 2 tries"):
            ds.read(0, slice(0, 4))
        assert time.perf_counter() - start < 8
    assert not [p for p in cache.rglob("*.bin") if not p.read_bytes().startswith(b"{")]  # metadata only


def test_cache_stays_under_its_cap(tmp_path):
    cache = BlockCache(tmp_path / "c", cap_bytes=10_000)
    for k in range(40):
        cache.put(f"key{k}", bytes(1000))
        time.sleep(0.002)
    assert cache.size() <= 10_000
    assert cache.get("key39") == bytes(1000) and cache.get("key0") is None
    # nothing half-written is ever visible
    assert not [p for p in (tmp_path / "c").rglob("*") if p.is_file() and ".tmp-" in p.name]


def test_training_windows_from_a_url_match_local(served):
    server, arrays, root = served
    local = WindowDataset(pde_data.open(root / "data.zarr"), history=2, split="all")
    remote = WindowDataset(pde_data.open(server.url("data.zarr"), remote=FAST), history=2, split="all")
    batch = remote.__getitems__(list(range(0, len(remote), 3)))
    for item, index in zip(batch, range(0, len(remote), 3)):
        torch.testing.assert_close(item["x"], local[index]["x"])


def test_chunked_hdf5_streams_its_chunks_around_h5py(tmp_path):
    """A Well file written chunked (export_well: one chunk per frame) reads through RemoteChunks:
    the chunks of a window come in one concurrent fetch, and equal the local read."""
    from pde_data.readers._common import RemoteChunks

    arrays = _store(tmp_path, n=3, t=10, grid=32)
    pde_data.export_well(pde_data.open(tmp_path / "data.zarr"), tmp_path / "w.hdf5")
    local = pde_data.open(tmp_path / "w.hdf5")
    with serve_directory(tmp_path) as server:
        ds = pde_data.open(server.url("w.hdf5"), remote={**FAST, "block_bytes": 4096})
        assert all(isinstance(s, RemoteChunks) for f in ds.fields.values() for s in f.sources)
        window = ds.read(2, slice(3, 8))
        before = server.requests
        again = ds.read(1, slice(0, 4))
        for name in arrays:
            np.testing.assert_array_equal(window[name], local.read(2, slice(3, 8))[name])
            np.testing.assert_array_equal(again[name], arrays[name][1, :4])
        # 2 fields x 4 frames = 8 chunks; a field's frames lie next to each other in the file, so one
        # range request per field (the chunk index is in memory by now)
        assert server.requests - before <= 2


def test_auto_detection_says_why_a_url_cannot_be_read(served, tmp_path):
    """Without format=, a 404 or a refused connection is said as such, not 'format not recognised';
    a server that ignores byte ranges is named at once, without retries."""
    server, _, root = served
    with pytest.raises(DataError, match="not found"):
        pde_data.open(server.url("nothing.zarr"), remote=FAST)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match="failed after 2 tries"):
        pde_data.open(f"http://127.0.0.1:{port}/data.hdf5", remote=FAST)
    fixtures.write_well(str(root / "w.hdf5"))
    fixtures.write_well(str(root / "w2.hdf5"))

    def no_ranges(handler) -> bool:  # answer every GET with the whole file, as python -m http.server does
        path = handler.local_path()
        if handler.command != "GET" or path is None or not path.is_file():
            return False
        body = path.read_bytes()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return True

    with serve_directory(root, fault=no_ranges) as plain:
        assert pde_data.open(plain.url("w.hdf5"), remote=FAST).spec.format == "the_well"  # read whole
        before = time.perf_counter()
        with pytest.raises(DataError, match="ignores byte-range requests.*max_download_bytes"):
            pde_data.open(plain.url("w2.hdf5"), remote={**FAST, "max_download_bytes": 1000})
        assert time.perf_counter() - before < 2  # no retries with backoff


# --- a server that ignores byte ranges: python -m http.server ----------------------------------


@contextmanager
def python_http_server(root: Path):
    """What `python -m http.server` runs, on 127.0.0.1: the standard library's
    SimpleHTTPRequestHandler, which answers every GET with the whole file (it ignores Range) and
    sends Last-Modified but no ETag. Yields `(url, gets)`: `url(name)`, and the Range header of
    every GET answered (None where the request had none)."""
    gets: list = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            gets.append(self.headers.get("Range"))
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield (lambda name: f"http://127.0.0.1:{server.server_address[1]}/{name}"), gets
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _new_process() -> None:
    """Forget what this process learnt of URLs (which servers honour ranges, the copies read), as a
    new process (another run, a spawned loader worker) starts: only the disk cache is left."""
    remote_file._RANGES.clear()
    remote_file._COPIES.clear()


def test_a_well_file_behind_python_http_server_is_read_whole_once_then_locally(tmp_path, caplog):
    served = tmp_path / "served"
    served.mkdir()
    expected = fixtures.write_well(str(served / "shear.hdf5"), d=2)
    local = pde_data.open(served / "shear.hdf5")
    cache = tmp_path / "cache"
    _new_process()
    with python_http_server(served) as (url, gets), caplog.at_level(logging.INFO, logger="pde_data"):
        ds = pde_data.open(url("shear.hdf5"), remote={**FAST, "cache_dir": str(cache)})
        assert ds.spec.format == "the_well" and ds.spec.fields == local.spec.fields
        for i in range(len(local)):
            for name, values in expected.items():
                np.testing.assert_allclose(ds.read(i, slice(0, 4))[name], values[i, :4], rtol=1e-6)
        whole = [g for g in gets if g is None]
        assert len(whole) == 1  # the file, once; the rest are one-byte probes answered by their headers
        assert any("reading the whole file" in r.getMessage() for r in caplog.records)
        assert any(r.getMessage().startswith("download shear.hdf5:") for r in caplog.records)  # progress
        # another process (a later run) reads it from the cache, not from the server
        _new_process()
        again = pde_data.open(url("shear.hdf5"), remote={**FAST, "cache_dir": str(cache)})
        np.testing.assert_allclose(again.read(1)["density"], expected["density"][1], rtol=1e-6)
        assert [g for g in gets if g is None] == whole


def test_the_cache_key_of_a_whole_file_uses_last_modified_where_there_is_no_etag(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    path = served / "w.hdf5"
    fixtures.write_well(str(path), d=1, seed=0)
    remote = {**FAST, "cache_dir": str(tmp_path / "cache")}
    _new_process()
    with python_http_server(served) as (url, gets):
        first = pde_data.open(url("w.hdf5"), remote=remote).read(0)["density"]
        changed = fixtures.write_well(str(path), d=1, seed=1)  # the same size, other values
        later = path.stat().st_mtime + 10
        os.utime(path, (later, later))  # Last-Modified has whole seconds
        _new_process()
        second = pde_data.open(url("w.hdf5"), remote=remote).read(0)["density"]
    assert len([g for g in gets if g is None]) == 2  # read again: its Last-Modified changed
    np.testing.assert_allclose(second, changed["density"][0], rtol=1e-6)
    assert not np.allclose(first, second)


def test_a_file_above_max_download_bytes_is_refused_naming_the_cap_before_reading_it(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    fixtures.write_well(str(served / "big.hdf5"), d=2)
    size = (served / "big.hdf5").stat().st_size
    _new_process()
    with python_http_server(served) as (url, gets):
        with pytest.raises(DataError, match=rf"big\.hdf5: the server ignores byte-range requests.*exceed "
                                            rf"max_download_bytes.*'max_download_bytes': {size}"):
            pde_data.open(url("big.hdf5"), remote={**FAST, "max_download_bytes": size - 1}, format="the_well")
        assert None not in gets  # only the one-byte probe: the file itself was never asked for


def test_without_a_cache_dir_the_whole_file_goes_to_a_temporary_copy(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    cfd = fixtures.write_pdebench_cfd(str(served / "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_Train.hdf5"))
    nc = fixtures.write_netcdf(str(served / "flow.nc"))
    _new_process()
    with python_http_server(served) as (url, gets):
        ds = pde_data.open(url("2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_Train.hdf5"), remote=FAST)
        for name, values in cfd.items():
            np.testing.assert_allclose(ds.read(1, slice(0, 3))[name], values[1, :3], rtol=1e-6)
        flow = pde_data.open(url("flow.nc"), remote=FAST)
        for name, values in nc.items():
            np.testing.assert_allclose(flow.read(1)[name], values[1], rtol=1e-6)
    assert gets.count(None) == 2  # each file once
