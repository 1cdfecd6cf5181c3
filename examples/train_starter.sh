#!/usr/bin/env bash
# How the shipped starter model (morph/weights/starter/) was trained: the recipe at the starter's
# size on the whole small corpus, in two stages, on 2 CPU cores (docs/benchmarks/starter.md).
#
#   bash examples/train_starter.sh runs/starter       # run it again after an interruption: it resumes
#
# 1. builds the small corpus in runs/corpus (the path both configs name; `morph data corpus` resumes);
# 2. stage 1: `morph pretrain --config examples/configs/starter_corpus.yaml` (3600 steps);
# 3. stage 2: `morph pretrain --config examples/configs/starter_corpus_stage2.yaml` from stage 1's
#    weights (4800 steps, heat_3d weighted 3x);
# 4. writes the last stage's model in float16 to OUT/starter (what the package ships).
# OUT is relative to the repository root (the script runs there; both configs name runs/corpus).
# Each stage resumes from its latest checkpoint and is skipped once it has finished (so STEPS1,
# STEPS2 and BATCH change only a stage that has not; keep `steps` above `warmup_steps`). With more
# compute, raise `steps` and `batch_size` (STEPS1, STEPS2 and BATCH here override the configs':
#   STEPS1=20000 STEPS2=0 BATCH=64 bash examples/train_starter.sh runs/starter_gpu   # one long stage
# where STEPS2=0 skips stage 2 and exports stage 1).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/starter}
OUT=${OUT%/}
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
STAGE1_CONFIG=examples/configs/starter_corpus.yaml
STAGE2_CONFIG=examples/configs/starter_corpus_stage2.yaml

echo "== building the corpus ($(date +%T))"
$PY -m morph data corpus --out runs/corpus --scale small --quiet

stage() {  # stage NAME CONFIG STEPS [extra flags]: one resumable pretraining run in OUT/NAME
    local name=$1 config=$2 steps=$3
    shift 3
    if [ -f "$OUT/$name/final/config.json" ]; then
        echo "== $name: finished earlier ($OUT/$name/final)"
        [ -f "$OUT/$name/train.log" ] || cp "$OUT/$name.log" "$OUT/$name/train.log" 2>/dev/null || true
        return
    fi
    echo "== $name: training ($(date +%T))"
    mkdir -p "$OUT"
    $PY -m morph pretrain --config "$config" --out "$OUT/$name" --resume --quiet \
        ${steps:+--steps "$steps"} ${BATCH:+--batch-size "$BATCH"} "$@" 2>&1 | tee -a "$OUT/$name.log"
    cp "$OUT/$name.log" "$OUT/$name/train.log"
}
stage stage1 "$STAGE1_CONFIG" "${STEPS1:-}"
LAST=stage1
if [ "${STEPS2:-}" != 0 ]; then
    stage stage2 "$STAGE2_CONFIG" "${STEPS2:-}" --init-checkpoint "$OUT/stage1/final"
    LAST=stage2
fi

echo "== float16 export ($(date +%T))"
$PY - "$OUT" "$LAST" <<'PYEOF'
import sys
from pathlib import Path
from morph import MORPH
out = Path(sys.argv[1])
model = MORPH.from_pretrained(out / sys.argv[2] / "final")
model.half().save_pretrained(out / "starter")
print("wrote", out / "starter", sum(f.stat().st_size for f in (out / "starter").iterdir()) // 2**20, "MiB")
PYEOF
