"""build_corpus: the stores and manifest of a scale, resume (complete stores kept,
interrupted ones rebuilt) and refusal of a directory holding something else."""

from __future__ import annotations

import json

import numpy as np
import pytest

import pde_data
from pde_data.errors import DataError
from pde_data.simulators import corpus
from pde_data.simulators.corpus import MANIFEST, build_corpus, plan_corpus

ONLY = ["heat_1d", "kdv_1d", "euler_1d"]  # cheap, and euler_1d has a wall variant


@pytest.fixture
def counted(monkeypatch):
    """Count the simulator runs build_corpus makes."""
    calls = []

    def generate(name, **kwargs):
        calls.append(name)
        return pde_data.generate(name, **kwargs)

    monkeypatch.setattr(corpus, "generate", generate)
    return calls


def test_tiny_corpus_writes_every_planned_store_and_a_manifest(tmp_path, counted):
    manifest = build_corpus(tmp_path / "c", "tiny", only=ONLY, progress=False)
    plans = plan_corpus("tiny", ONLY)
    assert [p.path for p in plans] == ["euler_1d-open-r64.zarr", "euler_1d-reflective-r64.zarr",
                                       "heat_1d-dirichlet-r64.zarr", "kdv_1d-periodic-r64.zarr"]
    assert len({p.seed for p in plans}) == len(plans)
    on_disk = json.loads((tmp_path / "c" / MANIFEST).read_text())
    assert on_disk == json.loads(json.dumps(manifest, default=float))
    assert set(manifest["stores"]) == {p.path for p in plans} and manifest["n_stores"] == 4
    assert manifest["simulators"]["heat_1d"]["parameters"]["diffusivity"]["stable"] == [1e-4, 1.0]
    assert manifest["simulators"]["euler_1d"]["corpus_ranges"] == {"gamma": [1.2, 1.67]}
    for plan in plans:
        entry = manifest["stores"][plan.path]
        assert entry["bytes"] > 0 and entry["seconds"] > 0 and entry["seed"] == plan.seed
        ds = pde_data.open(tmp_path / "c" / plan.path)
        assert (len(ds), ds.spec.n_steps, ds.spec.grid_shape) == (16, 20, (64,))
        assert ds.spec.attrs["seed"] == plan.seed
        assert ds.spec.dt == entry["frame_dt"]
        for name, values in ds.spec.attrs["trajectory_parameters"].items():
            assert len(values) == 16
    euler = pde_data.open(tmp_path / "c" / "euler_1d-reflective-r64.zarr")
    assert euler.spec.boundary_conditions == ("wall",)
    gammas = np.array(euler.spec.attrs["trajectory_parameters"]["gamma"])
    assert ((1.2 <= gammas) & (gammas <= 1.67)).all() and gammas.max() > 1.5  # the wider corpus range
    assert sorted(counted) == sorted(p.simulator for p in plans)
    assert manifest["total_bytes"] == sum(s["bytes"] for s in manifest["stores"].values())


def test_a_second_run_keeps_complete_stores_and_rebuilds_an_interrupted_one(tmp_path, counted):
    out = tmp_path / "c"
    build_corpus(out, "tiny", only=ONLY, progress=False)
    before = (out / "heat_1d-dirichlet-r64.zarr" / "zarr.json").stat().st_mtime_ns
    counted.clear()
    build_corpus(out, "tiny", only=ONLY, progress=False)
    assert counted == []  # nothing regenerated
    assert (out / "heat_1d-dirichlet-r64.zarr" / "zarr.json").stat().st_mtime_ns == before
    (out / "kdv_1d-periodic-r64.zarr" / "zarr.json").unlink()  # a store that is not complete
    (out / ".euler_1d-open-r64.zarr.partial-0123abcd").mkdir()  # an interrupted write
    build_corpus(out, "tiny", only=ONLY, progress=False)
    assert counted == ["kdv_1d"]
    assert not list(out.glob(".*partial*"))
    assert len(pde_data.open(out / "kdv_1d-periodic-r64.zarr")) == 16
    counted.clear()
    manifest = build_corpus(out, "tiny", only=["burgers_1d"], progress=False)
    assert counted == ["burgers_1d"] and manifest["n_stores"] == 5  # the others are kept in the manifest


def test_a_directory_holding_something_else_or_another_scale_is_refused(tmp_path, counted):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty and holds no corpus"):
        build_corpus(foreign, "tiny", only=ONLY, progress=False)
    assert (foreign / "notes.txt").read_text() == "keep me" and counted == []
    out = tmp_path / "c"
    build_corpus(out, "tiny", only=["heat_1d"], progress=False)
    with pytest.raises(DataError, match="holds a corpus of scale 'tiny', not 'small'"):
        build_corpus(out, "small", only=["heat_1d"], progress=False)


@pytest.mark.parametrize("kwargs, match", [
    (dict(scale="huge"), "scale='huge' is not a corpus scale; choose one of tiny, small, full"),
    (dict(only=["heat_7d"]), r"unknown simulator\(s\) \['heat_7d'\]; available: advection_1d"),
])
def test_bad_arguments_are_refused_by_name_before_any_work(tmp_path, kwargs, match):
    with pytest.raises(DataError, match=match):
        build_corpus(tmp_path / "c", progress=False, **kwargs)
    assert not (tmp_path / "c").exists()


def test_full_scale_has_256_trajectories_per_simulator_and_resolution():
    plans = plan_corpus("full")
    per_variant: dict = {}
    for p in plans:
        key = (p.simulator, p.boundary, p.resolution)
        per_variant[key] = per_variant.get(key, 0) + p.n_traj
    assert set(per_variant.values()) == {256}
    assert {p.resolution for p in plans if p.simulator == "burgers_1d"} == {64, 128}
    assert {p.simulator for p in plans} == set(pde_data.SIMULATORS)
