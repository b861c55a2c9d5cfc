#!/usr/bin/env bash
# Every GPU check of the engine and sweep issues in one call, for a borrowed GPU machine:
#   1. selfcheck --device cuda                (engine validation table)
#   2. paper-fig2 on CUDA                      (the Figure 2 set-up, its 2 replicated passes, results only)
#   3. a small measurement of every model      (forward and train, float32 and bfloat16, N=1024 and 4096)
#   4. the CUDA-marked unit tests, and the pytest-benchmark benchmarks on CUDA
# Results land in $OUT (default ./gpu-out) as flat files; render reports afterwards, anywhere, with
#   python run_bench.py report OUT/paper-fig2/results.jsonl
# Each step has its own time limit so a slow step cannot take the others' results with it.
# A copy of the tree without .git records its commit from ATTNBENCH_GIT_COMMIT: call it as
#   ATTNBENCH_GIT_COMMIT=$(git rev-parse HEAD) bash scripts/gpu_checks.sh   (the hash taken where git is)
set -u
OUT=${OUT:-gpu-out}
PY=${PYTHON:-python3}
SCALE=${GPU_CHECK_SCALE:-full}   # "smoke" runs tiny sizes on the CPU to test this script itself
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
log() { echo "== $(date +%H:%M:%S) $*" | tee -a "$OUT/log.txt"; }

if [ "$SCALE" = smoke ]; then
  DEV=cpu; FIG2=(--device cpu --seq-len 128,256,512 --tokens 1024 --d-model 32 --heads 4 --budget-s 0.02 --min-repeats 2)
  SMALL=(--seq-len 64,128 --d-model 32 --heads 4); LIMITS=(60 120 60 60)
else
  DEV=cuda; FIG2=(--budget-s 0.15); SMALL=(--seq-len 1024,4096 --d-model 256 --heads 16); LIMITS=(45 330 60 120)  # 555 s in all: one device call runs 600 s at most
fi

log "commit ${ATTNBENCH_GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
log "nvidia-smi"; nvidia-smi >>"$OUT/log.txt" 2>&1 || echo "no nvidia-smi" >>"$OUT/log.txt"
log "selfcheck --device $DEV"
timeout "${LIMITS[0]}" $PY run_bench.py selfcheck --device "$DEV" 2>&1 | tee "$OUT/selfcheck-$DEV.txt"
log "paper-fig2"
timeout "${LIMITS[1]}" $PY run_bench.py run paper-fig2 "${FIG2[@]}" --out "$OUT/paper-fig2" --no-report \
  >"$OUT/paper-fig2.txt" 2>&1; tail -n 20 "$OUT/paper-fig2.txt"
log "every model, small"
# Every registered layer (a new model file is included without editing this script), plus the official
# Fastformer scorer; layers with a fixed maximum length get one that covers the sizes.
MODELS=$($PY -c "import models; print(','.join([n + ('[max_len=4096]' if 'max_len' in models.describe(n).options else '') for n in models.available()] + ['fastformer[scorer=official]']))")
timeout "${LIMITS[2]}" $PY run_bench.py run --models "$MODELS" \
  "${SMALL[@]}" --kind grid --batch 4 --device "$DEV" --dtype float32,bfloat16 --mode forward,train \
  --budget-s 0.1 --min-repeats 5 --out "$OUT/models" --no-report >"$OUT/models.txt" 2>&1; tail -n 32 "$OUT/models.txt"
if [ "$SCALE" != smoke ]; then
  log "CUDA unit tests"
  timeout "${LIMITS[3]}" $PY -m pytest -m cuda -q -p no:cacheprovider -W ignore::UserWarning tests \
    >"$OUT/cuda-tests.txt" 2>&1; tail -n 15 "$OUT/cuda-tests.txt"
  log "pytest-benchmark on CUDA"
  ATTNBENCH_DEVICE=cuda timeout 60 $PY -m pytest tests/benchmarks --benchmark-only --benchmark-max-time=0.05 \
    -k N1024 -q -p no:cacheprovider >"$OUT/cuda-benchmarks.txt" 2>&1; tail -n 5 "$OUT/cuda-benchmarks.txt"
fi
log "done"
