#!/usr/bin/env bash
# The GPU check of issue 11, one call on a CUDA machine (about 5-9 minutes; every phase has a cap):
#   gate   the property suite on CUDA for favor and for its Triton backend (favor-gate profile);
#   bench  the benchmark grid of issue 11 (B=2, H=16, d=64, m=256, L=1024…65536, both masks,
#          fwd and fwd+bwd, bf16 and fp32), autosaved into .benchmarks/<GPU name>/;
#   report the table of that run (python -m benchmarks.report) and its figure.
# Usage: benchmarks/gpu_check.sh [gate] [bench] [report]   (no argument: all three, in that order)
# Results are also copied to $OUT (default: .benchmarks/gpu-check, git-ignored): gate-*.json,
# bench.json, table.md, the saved run and the figure. Exit status: non-zero when any phase failed or hit its cap.
# Caps (seconds) can be changed: GATE_TIMEOUT (each implementation), BENCH_TIMEOUT.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-.benchmarks/gpu-check}"
GATE_TIMEOUT="${GATE_TIMEOUT:-150}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-270}"
PHASES=("$@")
[ ${#PHASES[@]} -eq 0 ] && PHASES=(gate bench report)
mkdir -p "$OUT"
status=0

phase() { printf '\n=== %s (%s) ===\n' "$1" "$(date +%H:%M:%S)"; }

phase "environment"
if ! python - <<'EOF'
import importlib, sys
missing = [m for m in ("torch", "triton", "pytest", "hypothesis", "pytest_benchmark", "scipy", "numpy")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing Python packages: {missing} (install favor-suite[gpu,plots] and its dependencies)")
import torch, triton
if not torch.cuda.is_available():
    sys.exit("torch sees no CUDA device")
print(f"{torch.cuda.get_device_name()}, torch {torch.__version__} (CUDA {torch.version.cuda}), triton {triton.__version__}")
EOF
then
    exit 2
fi
python -c "import favor_suite" 2>/dev/null || pip install --quiet --no-deps --no-build-isolation -e . || exit 2
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true

for p in "${PHASES[@]}"; do
    case "$p" in
    gate)
        for impl in favor_impl favor_triton; do
            phase "gate: $impl on cuda"
            timeout "$GATE_TIMEOUT" python -m pytest --pyargs favor_suite --favor-impl="favor_suite.adapters.$impl" \
                --favor-device cuda --hypothesis-profile favor-gate -q --favor-report "$OUT/gate-$impl.json" \
                2>&1 | tail -n 40
            rc=${PIPESTATUS[0]}
            [ "$rc" -eq 124 ] && echo "gate $impl: stopped at its cap of ${GATE_TIMEOUT} s"
            [ "$rc" -ne 0 ] && status=1
        done
        ;;
    bench)
        phase "bench: the issue-11 grid (m256-d64), autosaved"
        timeout "$BENCH_TIMEOUT" python -m pytest benchmarks --benchmark-only --favor-device cuda -k "m256-d64" \
            --benchmark-autosave --benchmark-json "$OUT/bench.json" \
            --benchmark-max-time 0.1 --benchmark-min-rounds 3 -q -rs \
            --benchmark-columns min,median,rounds --benchmark-group-by group 2>&1 | tail -n 60
        rc=${PIPESTATUS[0]}
        [ "$rc" -eq 124 ] && echo "bench: stopped at its cap of ${BENCH_TIMEOUT} s (nothing autosaved)"
        [ "$rc" -ne 0 ] && status=1
        ;;
    report)
        phase "report"
        if [ -s "$OUT/bench.json" ]; then
            python -m benchmarks.report --run "$OUT/bench.json" | tee "$OUT/table.md"
        else
            python -m benchmarks.report --favor-device cuda | tee "$OUT/table.md" || status=1
        fi
        python -m benchmarks.plots --device cuda --figures history --out "$OUT" || status=1
        saved=$(python -c "import torch; from benchmarks.history import device_slug, latest_run
print(latest_run(device_slug(torch.device('cuda'))) or '')")
        [ -n "$saved" ] && cp "$saved" "$OUT/"
        ;;
    *)
        echo "unknown phase '$p' (gate, bench, report)"
        status=2
        ;;
    esac
done
phase "done, status $status"
exit "$status"
