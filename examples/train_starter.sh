#!/usr/bin/env bash
# How the shipped starter model (morph/weights/starter/) was trained: on one GPU, in a time budget.
#
#   BUDGET_S=330 bash examples/train_starter.sh runs/starter
#
# 1. generates the built-in mix of examples/configs/starter.yaml into the cache, one process
#    per simulator; 2. measures the step rate with a short run; 3. runs
#    `morph pretrain --config examples/configs/starter.yaml --steps N` with the N that fits
#    BUDGET_S seconds; 4. writes the model in float16 to OUT/starter (what the package ships).
set -euo pipefail
OUT=${1:-runs/starter}
CONFIG=${CONFIG:-examples/configs/starter.yaml}
BUDGET_S=${BUDGET_S:-330}
CALIB_STEPS=${CALIB_STEPS:-60}
PY=${PYTHON:-python3}
STAGE=${STAGE:-all}   # all, data (generate only) or train (data already generated)

if [ "$STAGE" != train ]; then
echo "== generating data ($(date +%T))"
$PY - "$CONFIG" <<'PYEOF'
import sys, time
from multiprocessing import Pool
from morph.train import TrainConfig
from morph.train.data import resolve_source

config = TrainConfig.from_file(sys.argv[1])
def make(source):
    start = time.perf_counter()
    dataset = resolve_source(source, config.cache)
    return f"{source.source}: {len(dataset)} trajectories in {time.perf_counter() - start:.0f} s"
with Pool(len(config.datasets)) as pool:
    for line in pool.map(make, config.datasets):
        print(line, flush=True)
PYEOF
fi
[ "$STAGE" = data ] && exit 0

echo "== measuring the step rate ($(date +%T))"
rm -rf "$OUT.calib"
$PY -m morph pretrain --config "$CONFIG" --steps "$CALIB_STEPS" --out "$OUT.calib" --quiet \
    --checkpoint-every 100000 > "$OUT.calib.log" 2>&1 || { cat "$OUT.calib.log"; exit 1; }
STEPS=$($PY - "$OUT.calib/metrics.csv" "$BUDGET_S" "$CONFIG" <<'PYEOF'
import csv, sys
from morph.train import TrainConfig
rows = list(csv.DictReader(open(sys.argv[1])))
batch = TrainConfig.from_file(sys.argv[3]).batch_size
times = sorted(batch / float(r["samples_per_s"]) for r in rows[len(rows) // 3:])
step_s = sum(times) / len(times)
print(max(100, int(float(sys.argv[2]) / (step_s * 1.05)) // 100 * 100))
PYEOF
)
echo "step rate measured; training $STEPS steps"

echo "== training ($(date +%T))"
rm -rf "$OUT"
$PY -m morph pretrain --config "$CONFIG" --steps "$STEPS" --out "$OUT" --quiet 2>&1 | tee "$OUT.train.log"
mv "$OUT.train.log" "$OUT/train.log"

echo "== float16 export ($(date +%T))"
$PY - "$OUT" <<'PYEOF'
import sys
from pathlib import Path
from morph import MORPH
out = Path(sys.argv[1])
model = MORPH.from_pretrained(out / "final")
model.half().save_pretrained(out / "starter")
print("wrote", out / "starter", sum(f.stat().st_size for f in (out / "starter").iterdir()) // 2**20, "MiB")
PYEOF
