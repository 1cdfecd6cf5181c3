"""Execute the example notebooks and save them with their outputs, which the site renders.

    nice python docs/run_notebooks.py                             # every notebook of examples/
    nice python docs/run_notebooks.py examples/zero_shot_rollout.ipynb

Each notebook runs in a scratch directory with figures at 72 dpi, so the saved outputs stay small;
no execution timings are recorded, and tqdm's warning about a kernel without ipywidgets (an
artefact of the machine that ran it) is left out. Outputs must hold no absolute path
(tests/test_committed_files.py): print paths relative to the notebook's working directory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parents[1]
#: What the kernel's matplotlib reads from its working directory.
MATPLOTLIBRC = "figure.dpi: 72\n"
#: Text of the stderr outputs left out of the saved notebook.
DROPPED_WARNINGS = ("IProgress not found",)


def run(path: Path, timeout: int = 1800) -> float:
    """Execute `path` top to bottom and save it with its outputs; returns the seconds it took."""
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="notebook_") as scratch:
        (Path(scratch) / "matplotlibrc").write_text(MATPLOTLIBRC)
        start = time.perf_counter()
        nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                                resources={"metadata": {"path": scratch}}).execute()
        seconds = time.perf_counter() - start
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (
                o.output_type == "stream" and o.name == "stderr" and any(w in o.text for w in DROPPED_WARNINGS))]
    nbformat.write(notebook, path)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook of examples/")
    args = parser.parse_args()
    for path in args.notebooks or sorted((ROOT / "examples").glob("*.ipynb")):
        print(f"{path}: {run(path):.0f} s, {path.stat().st_size / 2**10:.0f} KiB", flush=True)


if __name__ == "__main__":
    main()
