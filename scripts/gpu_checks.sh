#!/usr/bin/env bash
# Every GPU check of this repository in one call, for a borrowed GPU machine, sized to about 8 minutes on
# one H100/H200 (each step has its own time limit, so a slow step cannot take the others' results):
#   1. selfcheck --device cuda                                   (engine validation table)         40 s
#   2. paper-fig2, eager: every Figure 2 row, float32 + bfloat16, forward + train, 2 passes      140 s
#   3. paper-fig2, compiled: inductor and inductor-cudagraphs, bfloat16 forward, 4 layers, 2 N   90 s
#   4. paper-fig2-block, eager, bfloat16: whole-block scope                                       40 s
#   5. causal: the decoder setting up to N = 65536, bfloat16, forward + train                     60 s
#   6. a small measurement of every model, float32 and bfloat16, tf32 off and on                  30 s
#   7. scale-out with energy: fastformer and sdpa, bfloat16 forward, one worker per GPU
#      (--devices all; one GPU is one worker) with the energy pass (NVML, >= 5 s a configuration)  90 s
#   8. the CUDA-marked unit tests                                                                 60 s
#   9. report.md and plots of every run above, in its folder                                    ~25 s
# Steps 2-6 skip the energy pass (--no-energy: >= 7 s a configuration); step 7 measures it.
# Results and reports land in $OUT (default ./gpu-out), one folder per step; re-render one anywhere with
#   python run_bench.py report OUT/paper-fig2/results.jsonl
# A copy of the tree without .git records its commit from ATTNBENCH_GIT_COMMIT: call it as
#   ATTNBENCH_GIT_COMMIT=$(git rev-parse HEAD) bash scripts/gpu_checks.sh   (the hash taken where git is)
# GPU_CHECK_SCALE=smoke runs every step at tiny sizes on the CPU, to test this script itself.
set -u
OUT=${OUT:-gpu-out}
PY=${PYTHON:-python3}
SCALE=${GPU_CHECK_SCALE:-full}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
log() { echo "== $(date +%H:%M:%S) $*" | tee -a "$OUT/log.txt"; }

COMPILED_MODELS="fastformer,sdpa,linear,longformer[window=16]"
if [ "$SCALE" = smoke ]; then
  DEV=cpu
  SIZE=(--device cpu --tokens 256 --d-model 32 --heads 4 --budget-s 0.01 --min-repeats 2 --warmup 1 --passes 1
        --no-energy)
  FIG2=(--seq-len 64,128 --compile eager); COMPILED=(--seq-len 64 --compile inductor --models linear); CAUSAL=(--seq-len 64,128)
  SMALL=(--seq-len 64 --d-model 32 --heads 4 --tf32 off); LIMITS=(60 200 150 100 100 100 0 150)
  SCALEOUT=(--devices cpu --placement packed --seq-len 64,128 --tokens 256 --d-model 32 --heads 4 --warmup 1)
else
  DEV=cuda
  SIZE=(--budget-s 0.05 --min-repeats 5 --no-energy)
  FIG2=(--compile eager); COMPILED=(--compile inductor,inductor-cudagraphs --seq-len 4096,65536 --passes 1
                                    --models "$COMPILED_MODELS")
  CAUSAL=(--passes 1)
  SMALL=(--seq-len 1024,4096 --d-model 256 --heads 16 --tf32 off,on); LIMITS=(40 140 90 40 60 30 60 90)
  SCALEOUT=(--devices all --seq-len 1024,4096,16384,65536)
fi
run() {  # run NAME LIMIT ARGS...: one run_bench.py run, results only, its output kept
  local name=$1 limit=$2; shift 2
  log "$name"
  timeout "$limit" $PY run_bench.py run "$@" --out "$OUT/$name" --no-report >"$OUT/$name.txt" 2>&1
  echo "exit $?" >>"$OUT/$name.txt"; tail -n 12 "$OUT/$name.txt"
}

log "commit ${ATTNBENCH_GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
log "nvidia-smi"; nvidia-smi >>"$OUT/log.txt" 2>&1 || echo "no nvidia-smi" >>"$OUT/log.txt"
log "selfcheck --device $DEV"
timeout "${LIMITS[0]}" $PY run_bench.py selfcheck --device "$DEV" 2>&1 | tee "$OUT/selfcheck-$DEV.txt"
run paper-fig2 "${LIMITS[1]}" paper-fig2 "${SIZE[@]}" "${FIG2[@]}"
run paper-fig2-compiled "${LIMITS[2]}" paper-fig2 "${SIZE[@]}" --dtype bfloat16 --mode forward "${COMPILED[@]}"
run paper-fig2-block "${LIMITS[3]}" paper-fig2-block "${SIZE[@]}" "${FIG2[@]}" --dtype bfloat16 --passes 1
run causal "${LIMITS[4]}" causal "${SIZE[@]}" --dtype bfloat16 "${CAUSAL[@]}"
# Every registered layer (a new model file is included without editing this script), plus the official
# Fastformer scorer; layers with a fixed maximum length get one that covers the sizes.
MODELS=$($PY -c "import models; print(','.join([n + ('[max_len=4096]' if 'max_len' in models.describe(n).options else '') for n in models.available()] + ['fastformer[scorer=official]']))")
run models "${LIMITS[5]}" --models "$MODELS" "${SMALL[@]}" --kind grid --batch 4 --device "$DEV" \
  --dtype float32,bfloat16 --mode forward,train --budget-s 0.05 --min-repeats 5 --no-energy
# Issue 12: configurations spread over every GPU (one isolated worker each), energy per token on.
run scale-out-energy "${LIMITS[7]}" paper-fig2 --models fastformer,sdpa --dtype bfloat16 --mode forward --compile eager \
  --passes 1 --budget-s 0.05 --min-repeats 5 --device "$DEV" "${SCALEOUT[@]}"
if [ "$SCALE" != smoke ]; then
  log "CUDA unit tests"
  timeout "${LIMITS[6]}" $PY -m pytest -m cuda -q -p no:cacheprovider -W ignore::UserWarning tests \
    >"$OUT/cuda-tests.txt" 2>&1; tail -n 15 "$OUT/cuda-tests.txt"
fi
for dir in "$OUT"/*/; do  # reports last, so a slow plot never costs a measurement
  [ -f "$dir/results.jsonl" ] || continue
  log "report $dir"
  timeout 30 $PY run_bench.py report "$dir/results.jsonl" >>"$OUT/log.txt" 2>&1 || echo "report failed: $dir" | tee -a "$OUT/log.txt"
done
log "done"
