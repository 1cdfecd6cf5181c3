"""benchmarks/loss_curve.py: the loss curves of training stages, one after another."""

import numpy as np
import pytest

from benchmarks import loss_curve


def write_metrics(run, losses):
    run.mkdir(parents=True)
    lines = ["step,epoch,loss,lr"] + [f"{i + 1},0,{loss},0.001" for i, loss in enumerate(losses)]
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")
    return run


def test_two_stages_are_drawn_one_after_another(tmp_path, capsys):
    first = write_metrics(tmp_path / "s1", np.linspace(1.0, 0.1, 30))
    second = write_metrics(tmp_path / "s2", np.full(12, 0.5))
    out = tmp_path / "loss.png"
    assert loss_curve.main([str(first), str(second), "--label", "one", "--label", "two", "--out", str(out),
                            "--window", "5"]) == [30, 12]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert "one 30 steps, two 12 steps" in capsys.readouterr().out


def test_the_running_median_ignores_a_few_huge_batches():
    values = np.ones(21)
    values[10] = 1000.0
    assert np.allclose(loss_curve.smooth(values, 5), 1.0)


def test_a_directory_without_metrics_and_a_label_count_that_does_not_fit_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit, match="no metrics.csv there"):
        loss_curve.read_losses(tmp_path)
    run = write_metrics(tmp_path / "r", [1.0, 0.5])
    with pytest.raises(SystemExit):
        loss_curve.main([str(run), "--label", "a", "--label", "b", "--out", str(tmp_path / "x.png")])
    assert "give one per run (1), got 2" in capsys.readouterr().err
