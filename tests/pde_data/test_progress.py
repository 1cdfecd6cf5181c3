"""Progress: a bar on a terminal, a few log lines elsewhere, nothing when switched off."""

import logging

import pytest

from pde_data import progress
from pde_data.progress import LogProgress, progress_bar


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(progress.time, "monotonic", fake)
    return fake


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pde_data.progress"]


def test_a_long_job_logs_every_five_percent_or_thirty_seconds_not_every_step(caplog, clock):
    caplog.set_level(logging.INFO, logger="pde_data.progress")
    bar = LogProgress(total=2400, desc="finetune", unit="step")
    for _ in range(2400):  # 2400 steps over 600 s
        clock.now += 0.25
        bar.update(1)
    bar.close()
    logged = lines(caplog)
    assert len(logged) == 20  # a line per 5 % (30 s apart here), the last at 100 %, none repeated
    assert logged[0] == "finetune: 120/2400 step (5%), 4 step/s, eta 9m30s"
    assert logged[-1] == "finetune: 2400/2400 step (100%), 4 step/s"


def test_a_slow_job_logs_at_least_every_thirty_seconds(caplog, clock):
    caplog.set_level(logging.INFO, logger="pde_data.progress")
    bar = LogProgress(total=1000, desc="convert", unit="traj")
    for _ in range(10):  # 1 % of the work in 300 s
        clock.now += 30.0
        bar.update(1)
    assert len(lines(caplog)) == 10


def test_a_fast_job_logs_no_more_often_than_every_five_seconds(caplog, clock):
    caplog.set_level(logging.INFO, logger="pde_data.progress")
    bar = LogProgress(total=100, desc="rollout", unit="step")
    for _ in range(100):  # every 5 % mark is crossed, in 12.5 s all told
        clock.now += 0.125
        bar.update(1)
    bar.close()
    assert len(lines(caplog)) == 3  # at 5 s, 10 s and the closing line at 12.5 s


def test_postfix_and_messages_go_to_the_log(caplog, clock):
    caplog.set_level(logging.INFO, logger="pde_data.progress")
    bar = LogProgress(range(3), desc="pretrain", unit="step")
    bar.set_postfix(loss="0.12", lr="1e-3")
    bar.write("epoch 1: val loss 0.5")
    assert list(bar) == [0, 1, 2]  # iterating closes it: the final line
    assert lines(caplog) == ["epoch 1: val loss 0.5", "pretrain: 3/3 step (100%), 0s elapsed, loss=0.12, lr=1e-3"]


def test_progress_bar_picks_a_bar_only_for_a_terminal(monkeypatch, caplog):
    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(progress.sys, "stderr", Stream(False))
    assert type(progress_bar(total=3, desc="x")) is LogProgress
    monkeypatch.setattr(progress.sys, "stderr", Stream(True))
    assert type(progress_bar(total=3, desc="x")).__name__ == "tqdm"
    caplog.set_level(logging.INFO, logger="pde_data.progress")
    silent = progress_bar(range(3), desc="x", enabled=False)
    silent.write("epoch 1: val loss 0.5")  # messages still go out, as tqdm.write's did
    assert list(silent) == [0, 1, 2] and lines(caplog) == ["epoch 1: val loss 0.5"]


def test_off_a_terminal_the_library_only_logs_and_prints_nothing(capsys, caplog, clock):
    caplog.set_level(logging.INFO, logger="pde_data.progress")
    bar = LogProgress(range(2), desc="finetune", unit="step")
    assert list(bar) == [0, 1]
    assert capsys.readouterr().err == "" and lines(caplog) == ["finetune: 2/2 step (100%), 0s elapsed"]
