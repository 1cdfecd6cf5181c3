"""Training at scale, launched as users launch it: FSDP over CPU processes (gloo) killed and resumed
against a DDP run of the same seed, two "machines" on 127.0.0.1, and what each process draws."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from accelerate.data_loader import BatchSamplerShard

from adapters import add_lora
from morph import MORPH
from morph.train import ConfigError, TrainConfig, train
from morph.train.sharding import check_shardable, fsdp_plugin
from morph.train.state import latest_training_state
from pde_data import MixtureBatchSampler
from tests.conftest import TINY_MODEL, accelerate_command, launch_two_processes, tiny_model, two_cores
from tests.train.test_pretrain import read_losses, tiny_config

ROOT = Path(__file__).resolve().parents[2]
#: The shipped FSDP config, as users launch it.
FSDP_LAUNCH = ("--config_file", str(ROOT / "examples" / "accelerate_fsdp.yaml"), "--num_processes", "2")


def sharded_run_config(tmp_path: Path, out: str) -> Path:
    """A tiny 1D + 2D mix with dropout, noise and patch jitter (every draw a process makes counts)."""
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(tiny_config(
        tmp_path, output_dir=str(tmp_path / out), steps=8, checkpoint_every=2, batches_per_epoch=4,
        noise=0.02, patch_jitter=2, mixed_precision="no")))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@two_cores
def test_fsdp_on_cpu_processes_resumes_after_sigkill_and_matches_ddp(tmp_path):
    ddp = launch_two_processes("pretrain", "--config", str(sharded_run_config(tmp_path, "ddp")), "--quiet")
    assert ddp.returncode == 0, ddp.stderr[-3000:]

    # the FSDP run is killed (the launcher and its workers) once it has a checkpoint
    command = accelerate_command("-m", "morph", "pretrain", "--config", str(sharded_run_config(tmp_path, "fsdp")),
                                 "--quiet", launch=FSDP_LAUNCH)
    proc = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while latest_training_state(tmp_path / "fsdp" / "checkpoints") is None and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = latest_training_state(tmp_path / "fsdp" / "checkpoints")
    assert killed_at is not None and not (tmp_path / "fsdp" / "final").exists(), "the run finished before the kill"
    state = json.loads((killed_at / "trainer_state.json").read_text())
    assert state["sharding"] == "fsdp" and state["step"] < 8
    assert (killed_at / "pytorch_model_fsdp_0").is_dir()  # the training state is sharded (DCP), one file a process

    # resuming without FSDP is refused by name, before anything is touched
    with pytest.raises(ConfigError, match="saved with FSDP .*examples/accelerate_fsdp.yaml"):
        train(TrainConfig.from_run(tmp_path / "fsdp"), resume=True, progress=False)

    resumed = launch_two_processes("pretrain", "--resume", "--out", str(tmp_path / "fsdp"), "--quiet",
                                   launch=FSDP_LAUNCH)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("checkpoint:") == 1  # the main process reports
    sharded, replicated = read_losses(tmp_path / "fsdp"), read_losses(tmp_path / "ddp")
    assert sorted(sharded) == sorted(replicated) == list(range(1, 9))
    for step in replicated:  # the same seed: the same batches and draws on each process, sharded or not
        assert sharded[step] == pytest.approx(replicated[step], rel=1e-4, abs=1e-6), step

    # the final model is whole, in the usual format, and loads in one process
    model = MORPH.from_pretrained(tmp_path / "fsdp" / "final")
    reference = MORPH.from_pretrained(tmp_path / "ddp" / "final")
    for (name, weight), (_, expected) in zip(model.state_dict().items(), reference.state_dict().items()):
        torch.testing.assert_close(weight, expected, rtol=1e-3, atol=1e-5, msg=name)
    assert model(torch.randn(1, 2, 1, 1, 1, 1, 32)).shape == (1, 1, 1, 1, 1, 32)


@two_cores
def test_two_machines_on_localhost_meet_and_train_one_run(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tmp_path, steps=4, checkpoint_every=2, mixed_precision="no")))
    port = str(free_port())
    machines = [subprocess.Popen(
        accelerate_command("-m", "morph", "pretrain", "--config", str(config), "--quiet", launch=(
            "--num_machines", "2", "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1",
            "--main_process_port", port, "--num_processes", "2", "--multi_gpu", "--mixed_precision", "no",
            "--dynamo_backend", "no")),
        env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for rank in (0, 1)]
    outputs = [m.communicate(timeout=300) for m in machines]
    assert [m.returncode for m in machines] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    assert "checkpoint:" in outputs[0][0] and "checkpoint:" not in outputs[1][0]  # machine 0 holds the main process
    run = tmp_path / "run"
    assert sorted(read_losses(run)) == [1, 2, 3, 4]
    ckpt = latest_training_state(run / "checkpoints")
    assert {p.name for p in ckpt.glob("rng_state_*.pt")} == {"rng_state_0.pt", "rng_state_1.pt"}
    assert MORPH.from_pretrained(run / "final") is not None


@two_cores
def test_each_process_draws_its_own_noise_and_patch_shifts(tmp_path):
    proc = subprocess.run(accelerate_command(str(Path(__file__).with_name("record_draws.py")), str(tmp_path),
                                             str(tmp_path / "cache")),
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, second = (json.loads((tmp_path / f"draws-{k}.json").read_text()) for k in (0, 1))
    assert len(first) == len(second) == 6
    # the same window in every batch of both processes: the inputs differ by the noise alone
    for step, (a, b) in enumerate(zip(first, second)):
        assert all(x != y for x, y in zip(a["x"], b["x"])), step
    assert [a["shift"] for a in first] != [b["shift"] for b in second]
    assert all(s[:2] == [0, 0] and 0 <= s[2] <= 2 for s in (a["shift"] for a in first))  # 1D: W shifts only


def test_the_mixture_gives_each_process_its_own_batches_of_one_dataset_per_step_reproducibly():
    def shares(seed: int, epoch: int) -> list[list[list[int]]]:
        sampler = MixtureBatchSampler([10, 7, 5], batch_size=2, num_batches=9, seed=seed, group=2)
        sampler.set_epoch(epoch)
        return [list(BatchSamplerShard(sampler, num_processes=2, process_index=k)) for k in (0, 1)]

    first, second = shares(0, 0)
    assert len(first) == len(second) == 5  # 9 batches rounded up to a multiple of the 2 processes
    owners = [0] * 10 + [1] * 7 + [2] * 5
    for a, b in zip(first, second):
        assert {owners[i] for i in a} == {owners[i] for i in b} and len({owners[i] for i in a}) == 1
    seen = [tuple(batch) for share in (first, second) for batch in share]
    assert shares(0, 0) == [first, second]  # reproducible from seed and epoch
    assert shares(0, 1) != [first, second] and shares(1, 0) != [first, second]
    assert len(set(seen)) == len(seen)  # no batch read twice


def test_one_process_sampler_is_unchanged_by_grouping():
    plain = MixtureBatchSampler([10, 7, 5], batch_size=2, num_batches=9, seed=3)
    assert list(plain) == list(MixtureBatchSampler([10, 7, 5], batch_size=2, num_batches=9, seed=3, group=1))


def test_fsdp1_and_lora_under_fsdp_are_refused_with_the_way_that_works(tmp_path, monkeypatch):
    config = TrainConfig.from_dict(tiny_config(tmp_path, fsdp=True))
    assert fsdp_plugin(config).fsdp_version == 2
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setenv("FSDP_VERSION", "1")
    with pytest.raises(ConfigError, match="set fsdp_version: 2"):
        fsdp_plugin(TrainConfig.from_dict(tiny_config(tmp_path)))
    with pytest.raises(ConfigError, match="LoRA .* under FSDP.*--multi_gpu.*--level 3 or 4"):
        check_shardable(add_lora(tiny_model(), rank=2, base="starter"))
    with pytest.raises(ConfigError, match="fsdp must be true or false, got 'yes'"):
        TrainConfig.from_dict(tiny_config(tmp_path, fsdp="yes"))
