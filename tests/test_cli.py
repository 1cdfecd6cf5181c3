import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import pde_data
from morph.cli import app, main

runner = CliRunner()


def test_data_list_names_every_simulator_and_reader():
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0
    for name in (*pde_data.SIMULATORS, *pde_data.READERS):
        assert name in result.output


def test_generate_then_inspect_a_store(tmp_path):
    out = tmp_path / "b.zarr"
    result = runner.invoke(app, ["data", "generate", "burgers_1d", "--out", str(out), "--n-traj", "3",
                                 "--steps", "5", "--resolution", "32", "--seed", "1"])
    assert result.exit_code == 0, result.output
    ds = pde_data.open(out)
    assert (len(ds), ds.spec.n_steps, ds.spec.grid_shape) == (3, 5, (32,))
    np.testing.assert_array_equal(ds[2]["u"], pde_data.generate("burgers_1d", 3, 5, 32, seed=1)[2]["u"])
    shown = runner.invoke(app, ["data", "inspect", str(out)])
    assert shown.exit_code == 0
    assert "trajectories 3" in shown.output and "periodic" in shown.output and "std" in shown.output


def test_generate_with_physical_parameters(tmp_path):
    out = tmp_path / "ns.zarr"
    result = runner.invoke(app, ["data", "generate", "burgers_1d", "--out", str(out), "--n-traj", "2",
                                 "--steps", "3", "--resolution", "32", "--param", "viscosity=0.05",
                                 "--param", "frame_dt=0.01"])
    assert result.exit_code == 0, result.output
    ds = pde_data.open(out)
    assert ds.spec.attrs["viscosity"] == 0.05 and ds.spec.dt == pytest.approx(0.01)
    expected = pde_data.generate("burgers_1d", 2, 3, 32, viscosity=0.05, frame_dt=0.01)
    np.testing.assert_array_equal(ds[1]["u"], expected[1]["u"])
    bad = runner.invoke(app, ["data", "generate", "burgers_1d", "--out", str(tmp_path / "x.zarr"),
                              "--param", "viscosity"])
    assert bad.exit_code != 0 and "--param 'viscosity': expected KEY=VALUE" in str(bad.exception or bad.output)
    clash = runner.invoke(app, ["data", "generate", "burgers_1d", "--out", str(tmp_path / "y.zarr"),
                                "--param", "seed=3"])
    assert clash.exit_code != 0 and "has no parameter 'seed'" in str(clash.exception or clash.output)


def test_convert_an_npy_with_a_layout_string(tmp_path):
    arr = np.random.default_rng(0).standard_normal((2, 4, 6, 5, 2)).astype(np.float32)
    np.save(tmp_path / "v.npy", arr)
    result = runner.invoke(app, ["data", "convert", str(tmp_path / "v.npy"), "--layout", "N T X Y C",
                                 "--option", 'fields={"velocity": 2}', "--out", str(tmp_path / "v.zarr")])
    assert result.exit_code == 0, result.output
    ds = pde_data.open(tmp_path / "v.zarr")
    assert ds.spec.field_names == ["velocity"] and ds.spec.components == [2]
    np.testing.assert_array_equal(ds[1]["velocity"], np.moveaxis(arr[1], -1, 1))


def test_user_errors_exit_2_with_a_message_and_no_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "inspect", str(tmp_path / "missing.h5")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "missing.h5: no such file" in err and "Traceback" not in err


def test_python_dash_m_morph_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "morph", "env"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "torch" in proc.stdout and "morph-pde" in proc.stdout


def test_pretrain_finetune_and_evaluate_on_a_url(tmp_path, capsys):
    """The remote walk-through of docs/remote.md: train, fine-tune and score on a store served over HTTP; the
    data comes once over the network and then from --cache DIR/remote."""
    from pde_data.testing import serve_directory

    served = tmp_path / "served"
    served.mkdir()
    pde_data.convert(pde_data.generate("burgers_1d", n_traj=6, steps=9, resolution=32, seed=3),
                     served / "burgers.zarr", progress=False)
    cache, run = tmp_path / "cache", tmp_path / "run"
    with serve_directory(served) as server:
        url = server.url("burgers.zarr")
        shown = runner.invoke(app, ["data", "inspect", url])
        assert shown.exit_code == 0 and "trajectories 6" in shown.output, shown.output
        main(["pretrain", "--dataset", url, "--model", "dim=32", "--model", "depth=1", "--model", "heads=2",
              "--model", "mlp_dim=32", "--model", "heads_xa=2", "--steps", "2", "--batch-size", "4",
              "--warmup", "1", "--cache", str(cache), "--out", str(run), "--quiet"])
        assert "burgers" in capsys.readouterr().out
        assert any((cache / "remote").rglob("*.bin"))  # the chunks it read, kept for the next epoch
        requests = server.requests
        main(["evaluate", "--checkpoint", str(run), "--data", url, "--cache", str(cache), "--horizon", "2",
              "--quiet"])
        assert "| u | nRMSE |" in capsys.readouterr().out
        assert server.requests - requests <= 4  # metadata only: every chunk came from the cache
        main(["finetune", "--checkpoint", str(run), "--data", url, "--cache", str(cache), "--steps", "2",
              "--horizon", "2", "--out", str(tmp_path / "ft"), "--quiet"])
        assert "fine-tuned (level 2): " in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:  # the server is gone: our error, exit 2, naming the URL
        main(["evaluate", "--checkpoint", str(run), "--data", url, "--horizon", "2", "--quiet"])
    assert exit_info.value.code == 2 and "burgers.zarr" in capsys.readouterr().err


def test_the_commands_of_adapters_and_rollouts_come_through_entry_points_in_their_packages():
    from importlib.metadata import entry_points

    from adapters.cli import REPORTS_GROUP, finetune_reports
    from morph.cli.plugins import COMMANDS_GROUP, PROVIDED_BY

    installed = {point.name: point.value for point in entry_points(group=COMMANDS_GROUP)}
    assert {name: value.split(".")[0] for name, value in installed.items()} == PROVIDED_BY
    assert set(finetune_reports()) == {"test_table"}
    assert [point.value for point in entry_points(group=REPORTS_GROUP)] == ["rollouts.cli:finetune_test_table"]
    shown = runner.invoke(app, ["--help"])
    assert shown.exit_code == 0
    listed = [name for name in ("pretrain", "finetune", "rollout", "evaluate", "import-official", "env")
              if name in shown.output]
    assert listed == ["pretrain", "finetune", "rollout", "evaluate", "import-official", "env"]
    assert "not installed" not in shown.output


def test_an_install_without_the_entry_points_names_the_package_and_the_fix(capsys):
    import typer

    from adapters.cli import finetune_reports
    from morph.cli.app import add_commands
    from morph.cli.plugins import MissingPlugin

    bare = typer.Typer(add_completion=False)
    add_commands(bare, group="morph.no-such-group")
    assert "not installed" in runner.invoke(bare, ["--help"]).output
    for command, package in (["finetune", "adapters"], ["evaluate", "rollouts"]):
        result = runner.invoke(bare, [command, "--checkpoint", "starter", "--data", "x.zarr"])
        assert isinstance(result.exception, MissingPlugin)
        assert f"morph {command} is provided by the {package} package" in str(result.exception)
        assert "'morph.no-such-group'" in str(result.exception) and "pip install -e ." in str(result.exception)
    with pytest.raises(MissingPlugin, match="test table of the rollouts package.*pip install -e ."):
        finetune_reports("morph.no-such-group")


def test_morph_help_loads_no_peft_matplotlib_or_xarray():
    code = ("import sys; from morph.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('peft', 'matplotlib', 'xarray', 'transformers') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "finetune" in proc.stdout and proc.stdout.strip().splitlines()[-1] == "[]"


def test_pretrain_help_names_the_default_mix():
    from morph.train.config import DEFAULT_MIX

    shown = runner.invoke(app, ["pretrain", "--help"], terminal_width=200)
    assert shown.exit_code == 0
    text = " ".join(shown.output.split())
    assert f"default: the {len(DEFAULT_MIX)} built-in simulators " in text and "every built-in" not in text
    assert all(name in text for name in DEFAULT_MIX)


def test_precision_and_budget_flags_reach_training_and_evaluation(tmp_path, capsys):
    import json

    data = tmp_path / "b.zarr"
    pde_data.convert(pde_data.generate("burgers_1d", n_traj=6, steps=9, resolution=32, seed=3), data, progress=False)
    run = tmp_path / "run"
    main(["pretrain", "--dataset", str(data), "--model", "dim=32", "--model", "depth=1", "--model", "heads=2",
          "--model", "mlp_dim=32", "--model", "heads_xa=2", "--steps", "2", "--batch-size", "4", "--warmup", "1",
          "--mixed-precision", "no", "--max-minutes", "5", "--out", str(run), "--quiet"])
    saved = json.loads((run / "train_config.json").read_text())
    assert (saved["mixed_precision"], saved["max_minutes"], saved["compile"]) == ("no", 5.0, False)
    main(["finetune", "--checkpoint", str(run), "--data", str(data), "--steps", "2", "--horizon", "2",
          "--mixed-precision", "bf16", "--max-minutes", "2", "--out", str(tmp_path / "ft"), "--quiet"])
    tuned = json.loads((tmp_path / "ft" / "train_config.json").read_text())
    assert (tuned["mixed_precision"], tuned["max_minutes"]) == ("bf16", 2.0)
    capsys.readouterr()
    tables = {}
    for precision in ("no", "bf16"):
        main(["evaluate", "--checkpoint", str(run), "--data", str(data), "--horizon", "2", "--precision", precision,
              "--quiet"])
        tables[precision] = capsys.readouterr().out
    assert "| u | nRMSE |" in tables["no"] and "| u | nRMSE |" in tables["bf16"]
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--checkpoint", str(run), "--data", str(data), "--horizon", "2", "--precision", "fp8"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "precision must be one of auto, no, bf16, fp16" in err and "Traceback" not in err
