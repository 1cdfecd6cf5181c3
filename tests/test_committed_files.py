"""Committed records (configs, run records, metrics, logs, notebooks) hold no path of the machine that
made them: data by name, or by a path relative to the repository (issue 31)."""

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The files that are records or configs, not prose or code.
RECORDS = (".json", ".yaml", ".yml", ".csv", ".log", ".ipynb")
#: An absolute path: "/" that follows no word character, dot, tilde, dash or slash (so not `m/s`,
#: `~/.cache`, `runs/x` or a URL's `//host/`), then two or more segments; or a Windows drive, `C:\` or `C:/`.
SEP = r"(?:\\{1,2}|/)"  # a Windows path in JSON doubles its backslashes
ABSOLUTE = re.compile(r"(?<![\w.~/-])/[A-Za-z_][\w.-]*(?:/[\w.-]+)+"
                      rf"|(?<![A-Za-z0-9])[A-Za-z]:{SEP}[\w.-]+(?:{SEP}[\w.-]+)*")


def committed_records() -> list[str]:
    """The records git tracks in this checkout ([] outside a git checkout, e.g. an unpacked sdist)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return []
    return sorted(name for name in listed.stdout.split("\0") if name.endswith(RECORDS) and (ROOT / name).is_file())


def absolute_paths(text: str) -> list[tuple[int, str]]:
    """(line number, path) of each absolute path in `text`."""
    return [(number, match.group()) for number, line in enumerate(text.splitlines(), 1)
            for match in ABSOLUTE.finditer(line)]


def record_text(path: Path) -> str:
    """The text of a record to search: a notebook without the images of its outputs (base64, whose
    letters can look like a path)."""
    text = path.read_text(errors="replace")
    if path.suffix != ".ipynb":
        return text
    notebook = json.loads(text)
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            if "data" in output:
                output["data"] = {kind: value for kind, value in output["data"].items() if not kind.startswith("image/")}
    return json.dumps(notebook, indent=1)


def test_the_records_of_a_git_checkout_are_found():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: which files are committed is unknown")
    assert {"morph/weights/starter/metadata.json", "examples/configs/recipe.yaml"} <= set(committed_records())


@pytest.mark.parametrize("name", committed_records())
def test_a_committed_record_holds_no_absolute_path(name):
    found = absolute_paths(record_text(ROOT / name))
    assert not found, (f"{name} holds absolute paths of the machine that wrote it (line, path): {found[:5]}; "
                       "record data by name, or by a path relative to the repository")


@pytest.mark.parametrize("text, paths", [
    ('"source": "/work/main/runs/corpus/burgers_1d-periodic-r128.zarr"', ["/work/main/runs/corpus/burgers_1d-periodic-r128.zarr"]),
    ("INFO morph: data cache: /root/.cache/morph-pde", ["/root/.cache/morph-pde"]),
    ("output_dir: /tmp/run/starter", ["/tmp/run/starter"]),
    ("morph pretrain --dataset corpus:/data/corpus_full", ["/data/corpus_full"]),
    ('"path": "C:\\\\Users\\\\me\\\\starter"', ["C:\\\\Users\\\\me\\\\starter"]),
    ("path: C:\\Users\\me\\starter", ["C:\\Users\\me\\starter"]),
    ('"path": "D:/runs/starter"', ["D:/runs/starter"]),
    ('"source": "runs/corpus/burgers_1d-periodic-r128.zarr", "cache": "~/.cache/morph-pde"', []),
    ('"url": "https://example.org/data/burgers.zarr", "unit": "m/s", "ratio": "1/2"', []),
    ('"equation": "u_t + (u^2/2)_x = nu u_xx", "key": "corpus:runs/corpus"', []),
])
def test_absolute_paths_are_found_and_relative_ones_and_urls_are_not(text, paths):
    assert [path for _, path in absolute_paths(text)] == paths
