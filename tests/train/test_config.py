from pathlib import Path

import pytest

import pde_data
from morph.train import ConfigError, DataSource, TrainConfig
from morph.train.config import DEFAULT_MIX, DEFAULT_STEPS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "configs"


def test_the_example_default_config_is_what_morph_pretrain_runs():
    assert TrainConfig.from_file(EXAMPLES / "pretrain_default.yaml").to_dict() == TrainConfig().to_dict()


def test_the_default_mix_has_built_in_simulators_of_every_dimensionality():
    import pde_data

    assert set(DEFAULT_MIX) <= set(pde_data.SIMULATORS)
    dims = {pde_data.SIMULATORS[n].n_spatial_dims for n in DEFAULT_MIX}
    assert dims == {1, 2, 3}


def test_dataset_strings_take_an_optional_weight():
    assert DataSource.parse("burgers_1d:2.5") == DataSource("burgers_1d", weight=2.5)
    assert DataSource.parse("data/run.nc").source == "data/run.nc"
    assert DataSource.parse("C:/data/run.nc").source == "C:/data/run.nc"


@pytest.mark.parametrize("weight", [0, -1.0, float("inf"), float("nan"), True, "2"])
def test_a_dataset_weight_that_is_not_a_finite_positive_number_is_refused(weight):
    with pytest.raises(ConfigError, match=r"dataset 'burgers_1d': weight must be a finite number > 0"):
        DataSource("burgers_1d", weight=weight)
    assert DataSource("burgers_1d", weight=2).weight == 2


def test_steps_win_over_epochs_and_neither_means_the_default_length():
    assert TrainConfig().steps == DEFAULT_STEPS
    assert TrainConfig(epochs=3).steps is None
    assert TrainConfig(steps=10, epochs=3).steps == 10


def test_a_config_file_with_an_unknown_key_is_refused_by_name(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("history: 2\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown keys \['learning_rate'\]"):
        TrainConfig.from_file(path)
    with pytest.raises(ConfigError, match="does not exist"):
        TrainConfig.from_file(tmp_path / "missing.yaml")


def test_simulator_sources_take_physical_parameters_and_cache_them_apart(tmp_path):
    from morph.train.data import resolve_source

    plain = resolve_source(DataSource("burgers_1d", n_traj=2, steps=3, resolution=32), tmp_path)
    viscous = resolve_source(DataSource("burgers_1d", n_traj=2, steps=3, resolution=32,
                                        options={"viscosity": 0.1}), tmp_path)
    names = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert len(names) == 2 and all(n.startswith("burgers_1d-n2-t3-r32-s0-p") for n in names)
    again = resolve_source(DataSource("burgers_1d", n_traj=2, steps=3, resolution=32), tmp_path)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == names  # the same data: reused
    assert again.spec.source == plain.spec.source
    assert plain.spec.attrs["viscosity"] == [0.013, 0.02] and viscous.spec.attrs["viscosity"] == 0.1
    with pytest.raises(pde_data.DataError, match="has no parameter 'nu'"):
        resolve_source(DataSource("burgers_1d", n_traj=2, steps=3, options={"nu": 0.1}), tmp_path)


def test_a_config_file_reads_exponents_as_numbers_and_refuses_text_for_numbers(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("lr: 1e-3\nweight_decay: 5E-2\nsteps: 10\n")
    config = TrainConfig.from_file(good)  # PyYAML alone reads 1e-3 as the string "1e-3"
    assert config.lr == 0.001 and config.weight_decay == 0.05 and config.steps == 10
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: fast\n")
    with pytest.raises(ConfigError, match="lr must be a number, got 'fast'"):
        TrainConfig.from_file(bad)
