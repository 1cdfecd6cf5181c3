import os

import numpy as np
import pytest

import pde_data
from pde_data import DataError
from pde_data.store import is_store
from tests.conftest import make_dataset


def test_convert_round_trip_keeps_values_exactly_and_records_stats(tmp_path):
    ds = make_dataset(n=3, t=5, grid=(4, 6, 5), fields=(("c", 1), ("u", 3)), dt=0.5,
                      boundary_conditions=("periodic",) * 3, source="orig.h5", format="pdebench")
    store = pde_data.convert(ds, tmp_path / "toy.zarr", progress=False)
    again = pde_data.open(tmp_path / "toy.zarr")
    assert again.spec.format == ds.spec.format and again.spec.source == ds.spec.source
    assert again.spec.field_names == ["c", "u"] and again.spec.components == [1, 3]
    assert again.spec.dt == 0.5 and again.spec.boundary_conditions == ("periodic",) * 3
    for i in range(3):
        for name in ("c", "u"):
            np.testing.assert_array_equal(again[i][name], ds.fields[name][i])
    assert set(store.spec.stats) == {"c", "u"}
    np.testing.assert_allclose(store.spec.stats["c"].mean[0], ds.fields["c"].astype(np.float64).mean(),
                               rtol=1e-9)


def test_store_is_chunked_by_trajectory_for_random_window_access(tmp_path):
    import zarr

    pde_data.convert(make_dataset(n=2, t=6), tmp_path / "s.zarr", progress=False)
    arr = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")["fields/v"]
    assert arr.shape == (2, 6, 2, 6, 5)
    assert arr.chunks[0] == 1 and arr.chunks[2:] == (2, 6, 5)


def test_convert_refuses_to_overwrite_unless_asked(tmp_path):
    out = tmp_path / "s.zarr"
    pde_data.convert(make_dataset(seed=1), out, progress=False)
    with pytest.raises(DataError, match="already exists"):
        pde_data.convert(make_dataset(seed=2), out, progress=False)
    pde_data.convert(make_dataset(seed=2), out, overwrite=True, progress=False)
    np.testing.assert_array_equal(pde_data.open(out)[0]["p"], make_dataset(seed=2)[0]["p"])


def test_interrupted_convert_leaves_nothing_that_looks_like_a_store(tmp_path):
    ds = make_dataset(n=4)
    ds.fields["v"][3, 1, 0, 0, 0] = np.inf  # fails on the last trajectory, mid-write
    with pytest.raises(DataError, match="NaN/Inf in trajectory 3"):
        pde_data.convert(ds, tmp_path / "bad.zarr", progress=False)
    assert os.listdir(tmp_path) == []


def test_is_store_is_false_for_other_paths(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"0")
    assert not is_store(str(tmp_path / "x.npy"))
    assert not is_store(str(tmp_path))


def test_open_missing_path_and_unknown_format_are_clear(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        pde_data.open(tmp_path / "nope.h5")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match="format not recognised"):
        pde_data.open(tmp_path / "x.txt")
    with pytest.raises(DataError, match="unknown format 'grib'"):
        pde_data.open(tmp_path / "x.txt", format="grib")


def test_a_store_opens_from_an_fsspec_url(tmp_path):
    ds = make_dataset(n=2, t=3)
    pde_data.convert(ds, tmp_path / "u.zarr", progress=False)
    again = pde_data.open(f"file://{tmp_path / 'u.zarr'}")
    np.testing.assert_array_equal(again[1, 1:3]["v"], ds.fields["v"][1, 1:3])


@pytest.mark.parametrize("grid", [(12,), (6, 5), (4, 3, 5)])
def test_fast_window_reads_equal_zarr_reads_across_time_chunks(tmp_path, monkeypatch, grid):
    from pde_data.store import ChunkReader

    # small chunks: 3 frames of a 1-component field, so windows cross chunk edges and T=7 ends in a partial chunk
    monkeypatch.setattr(pde_data.store, "_CHUNK_BYTES", 3 * 4 * int(np.prod(grid)))
    ds = make_dataset(n=3, t=7, grid=grid, fields=(("p", 1), ("u", len(grid))))
    store = pde_data.convert(ds, tmp_path / "s.zarr", progress=False)
    p = store.fields["p"]
    assert isinstance(p, ChunkReader) and p.array.chunks[1] == 3
    for i, t0, t1 in [(0, 0, 7), (1, 2, 6), (2, 5, 7), (1, 3, 3), (-1, 6, 7), (0, -4, -1)]:
        for name in ("p", "u"):
            got = store.fields[name][i, t0:t1]
            np.testing.assert_array_equal(got, store.fields[name].array[i, t0:t1])
            np.testing.assert_array_equal(got, ds.fields[name][i, t0:t1])
    np.testing.assert_array_equal(p[1, ::2], ds.fields["p"][1, ::2])  # other indexing goes through zarr


def test_fast_reads_give_zeros_for_chunks_zarr_never_wrote(tmp_path):
    ds = make_dataset(n=2, t=4)
    ds.fields["p"][1] = 0.0  # zarr skips chunks equal to the fill value
    store = pde_data.convert(ds, tmp_path / "s.zarr", progress=False)
    assert not (tmp_path / "s.zarr" / "fields" / "p" / "c" / "1").exists()
    np.testing.assert_array_equal(store[1, 1:3]["p"], np.zeros((2, 1, 6, 5), np.float32))
    np.testing.assert_array_equal(store[0]["p"], ds.fields["p"][0])


def test_a_corrupt_chunk_is_a_data_error_naming_the_store(tmp_path):
    store = pde_data.convert(make_dataset(n=2, t=4), tmp_path / "s.zarr", progress=False)
    chunk = tmp_path / "s.zarr" / "fields" / "v" / "c" / "1" / "0" / "0" / "0" / "0"
    chunk.write_bytes(chunk.read_bytes()[:40])  # truncated
    with pytest.raises(DataError, match=r"s\.zarr.*field 'v' of trajectory 1.*convert"):
        store.read(1)


def test_arrays_in_another_layout_read_through_zarr(tmp_path):
    import zarr
    from zarr.codecs import BloscCodec, ZstdCodec

    from pde_data.store import ChunkReader

    plain = zarr.create_array(str(tmp_path / "a.zarr"), shape=(2, 4, 1, 3), chunks=(1, 2, 1, 3),
                              dtype="float32", compressors=ZstdCodec())
    assert ChunkReader.wrap(plain) is plain
    arr = zarr.create_array(str(tmp_path / "b.zarr"), shape=(2, 4, 1, 3), chunks=(1, 2, 1, 3), dtype="float32",
                            compressors=BloscCodec(cname="zstd", shuffle="bitshuffle"))  # any Blosc setting
    arr[:] = np.arange(24, dtype=np.float32).reshape(2, 4, 1, 3)
    reader = ChunkReader.wrap(arr)
    assert isinstance(reader, ChunkReader)
    np.testing.assert_array_equal(reader[1, 1:4], arr[1, 1:4])
