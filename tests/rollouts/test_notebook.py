"""The example notebook runs headless from top to bottom (nbclient), so it never rots."""

from pathlib import Path

import pytest

from morph.checkpoint.files import CONFIG_FILE, PACKAGED_WEIGHTS

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "zero_shot_rollout.ipynb"


@pytest.mark.skipif(not (PACKAGED_WEIGHTS / "starter" / CONFIG_FILE).is_file(),
                    reason="the starter weights (morph/weights/starter/) are not in this checkout")
def test_the_zero_shot_notebook_runs(run_notebook):
    outputs = run_notebook(NOTEBOOK, timeout=120)
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {}) or "image/gif" in o.get("data", {})]
    assert len(images) >= 2  # the still figure and the GIF
