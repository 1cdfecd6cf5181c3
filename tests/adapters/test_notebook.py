"""The fine-tuning notebook runs headless from top to bottom (nbclient), so it never rots."""

from pathlib import Path

import pytest

from morph.checkpoint.files import CONFIG_FILE, PACKAGED_WEIGHTS

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "finetune_new_pde.ipynb"


@pytest.mark.skipif(not (PACKAGED_WEIGHTS / "starter" / CONFIG_FILE).is_file(),
                    reason="the starter weights (morph/weights/starter/) are not in this checkout")
def test_the_finetune_notebook_runs(run_notebook):
    outputs = run_notebook(NOTEBOOK, timeout=600)
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the dataset, the two rollouts side by side, the error curves
    tables = [o for o in outputs if "text/html" in o.get("data", {}) and "from scratch" in o["data"]["text/html"]]
    assert tables  # the comparison table
