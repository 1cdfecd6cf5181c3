import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from morph import MORPH, MorphConfig
from pde_data.dataset import PDEDataset
from pde_data.spec import DatasetSpec, FieldSpec

#: The tiny MORPH the tests build on (milliseconds per step on 2 CPU cores); each test overrides
#: only what it probes (depth, max_ar, predict_delta, ...).
TINY_MODEL = dict(dim=32, heads=2, depth=1, mlp_dim=48, heads_xa=2, patch_size=4, max_patches=64, max_ar=3,
                  dropout=0.0, emb_dropout=0.0)


#: Skips a test that launches two processes on a machine with one core.
two_cores = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPU cores")


#: `accelerate launch` on the CPU (gloo, float32) with 2 processes on this machine, DDP.
DDP_LAUNCH = ("--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--multi_gpu")


def accelerate_command(*program: str, launch: tuple[str, ...] = DDP_LAUNCH) -> list[str]:
    """The `accelerate launch` command line of `program` (`-m morph ...` or a script with its arguments)."""
    return [sys.executable, "-m", "accelerate.commands.launch", *launch, *program]


def launch_two_processes(*morph_args: str, timeout: int = 300,
                         launch: tuple[str, ...] = DDP_LAUNCH) -> subprocess.CompletedProcess:
    """`accelerate launch --num_processes 2 -m morph *morph_args` on the CPU (gloo, float32), output
    captured; `launch` replaces the launch options (an FSDP config file, several machines)."""
    return subprocess.run(accelerate_command("-m", "morph", *morph_args, launch=launch),
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=timeout)


def tiny_config(**overrides) -> MorphConfig:
    """`TINY_MODEL` with `overrides`."""
    return MorphConfig(**{**TINY_MODEL, **overrides})


def tiny_model(seed: int = 0, **overrides) -> MORPH:
    """A freshly initialised tiny MORPH (weights drawn with `seed`), in eval mode."""
    torch.manual_seed(seed)
    return MORPH(tiny_config(**overrides)).eval()


def make_dataset(n=4, t=7, grid=(6, 5), fields=(("p", 1), ("v", 2)), seed=0, name="toy", **spec_kw):
    """A small in-memory multi-field dataset with values that cannot be confused."""
    rng = np.random.default_rng(seed)
    arrays = {f: rng.standard_normal((n, t, c, *grid)).astype(np.float32) for f, c in fields}
    spec = DatasetSpec(name=name, grid_shape=grid, fields=[FieldSpec(f, c) for f, c in fields],
                       n_trajectories=n, n_steps=t, **spec_kw)
    return PDEDataset(spec, arrays)


@pytest.fixture
def toy_dataset():
    return make_dataset()


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def run_notebook(tmp_path):
    """Execute a notebook headless (nbclient) in tmp_path; returns the outputs of its code cells."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    def run(path, timeout: int) -> list:
        notebook = nbformat.read(path, as_version=4)
        nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
        return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]

    return run
