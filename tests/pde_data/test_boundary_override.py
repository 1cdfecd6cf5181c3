"""Boundaries are never assumed silently: a reader that cannot know them says so (`spec.assumed_boundaries`, or
"unknown"), `pde_data.open` warns, and `boundary_conditions=` states them for every reader; files in the real
layouts of tests/pde_data/fixtures.py."""

import logging
import pickle

import pytest

import pde_data
from pde_data import DataError
from tests.pde_data import fixtures as fx


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "pde_data.readers" and r.levelno == logging.WARNING]


@pytest.fixture
def single(tmp_path):
    path = tmp_path / "1D_Advection_Sols_beta0.4.hdf5"
    fx.write_pdebench_single(str(path))
    return path


def test_a_pdebench_single_array_file_says_its_periodic_boundary_is_assumed(single, caplog):
    with caplog.at_level(logging.WARNING):
        spec = pde_data.open(single).spec
    assert spec.boundary_conditions == ("periodic",) and spec.assumed_boundaries == ("x",)
    assert "x: periodic (assumed)" in spec.describe()
    (warning,) = _warnings(caplog)
    assert "1D_Advection_Sols_beta0.4.hdf5: boundaries x: periodic (assumed: the file does not say)" in warning
    assert 'boundary_conditions="wall"' in warning and 'boundary_conditions="x=wall"' in warning


@pytest.mark.parametrize("value", ["wall", "x=wall", ["wall"], {"x": "WALL"}, ["x=wall"]])
def test_stated_boundaries_replace_the_assumed_ones_and_silence_the_warning(single, caplog, value):
    with caplog.at_level(logging.WARNING):
        spec = pde_data.open(single, boundary_conditions=value).spec
    assert spec.boundary_conditions == ("wall",) and spec.assumed_boundaries == ()
    assert "(assumed)" not in spec.describe() and _warnings(caplog) == []


def test_one_axis_stated_leaves_the_other_assumed_and_named(tmp_path, caplog):
    path = tmp_path / "2D_single.hdf5"
    fx.write_pdebench_single(str(path), d=2)
    with caplog.at_level(logging.WARNING):
        spec = pde_data.open(path, boundary_conditions="x=wall").spec
    assert spec.boundary_conditions == ("wall", "periodic") and spec.assumed_boundaries == ("y",)
    (warning,) = _warnings(caplog)
    assert "boundaries y: periodic (assumed" in warning and "x:" not in warning.split("boundaries")[1]


def test_unknown_boundaries_are_named_in_the_warning_too(tmp_path, caplog):
    path = tmp_path / "n.nc"
    fx.write_netcdf(str(path))
    with caplog.at_level(logging.WARNING):
        spec = pde_data.open(path).spec
    assert spec.boundary_conditions == ("unknown", "unknown") and spec.assumed_boundaries == ()
    (warning,) = _warnings(caplog)
    assert "boundaries x: unknown, y: unknown" in warning and "like walls" in warning


def test_a_file_that_says_its_boundaries_opens_without_a_warning_and_can_be_overridden(tmp_path, caplog):
    path = tmp_path / "w.hdf5"
    fx.write_well(str(path))
    with caplog.at_level(logging.WARNING):
        assert pde_data.open(path).spec.boundary_conditions == ("periodic", "wall")
        assert pde_data.open(path, boundary_conditions=["open", "open"]).spec.boundary_conditions == ("open", "open")
    assert _warnings(caplog) == []


def test_stated_boundaries_are_kept_through_convert_and_pickling(single, tmp_path, caplog):
    walled = pde_data.convert(single, tmp_path / "walled.zarr", boundary_conditions="wall", progress=False)
    assumed = pde_data.convert(single, tmp_path / "assumed.zarr", progress=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = pde_data.open(tmp_path / "walled.zarr")
        assert _warnings(caplog) == []
        kept = pde_data.open(tmp_path / "assumed.zarr")
        (warning,) = _warnings(caplog)  # the store remembers the assumption
    assert warning.startswith(f"{tmp_path / 'assumed.zarr'}: boundaries x: periodic (assumed")
    assert (again.spec.boundary_conditions, again.spec.assumed_boundaries) == (("wall",), ())
    assert (kept.spec.boundary_conditions, kept.spec.assumed_boundaries) == (("periodic",), ("x",))
    assert walled.spec.boundary_conditions == ("wall",) and assumed.spec.assumed_boundaries == ("x",)
    opened = pde_data.open(single, boundary_conditions="wall")
    worker = pickle.loads(pickle.dumps(opened))  # what a DataLoader worker gets
    assert worker.spec.boundary_conditions == ("wall",)
    batch = pde_data.collate([pde_data.WindowDataset(worker, history=2, split="all")[0]])
    assert batch.boundaries == ("none", "none", "wall")


@pytest.mark.parametrize("value, message", [
    ("y=wall", r"names axes \['y'\]; the data's axes are x"),
    ("sticky", "unknown kind sticky; use one of periodic, wall, open, unknown"),
    (["wall", "x=open"], "mixes kinds for every axis with AXIS=KIND"),
    (["wall", "open"], "gives 2 kinds for 1 axes"),
    (3, "boundary_conditions=3; give a kind"),
])
def test_bad_boundaries_name_the_argument_and_what_is_allowed(single, value, message):
    with pytest.raises(DataError, match=message):
        pde_data.open(single, boundary_conditions=value)
