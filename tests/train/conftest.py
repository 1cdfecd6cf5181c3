import pytest

from morph.cli import main


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A tiny corpus of two 1D simulators (`morph data corpus --scale tiny --only ...`), built once."""
    out = tmp_path_factory.mktemp("corpus") / "c"
    main(["data", "corpus", "--out", str(out), "--scale", "tiny", "--only", "burgers_1d", "--only", "heat_1d",
          "--quiet"])
    return out
