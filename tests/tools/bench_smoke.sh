#!/usr/bin/env bash
# bench_smoke: tools/bench/bench_cpu_vs_torch.sh end to end at a tiny size
# (the engine's bench, PyTorch's bench_torch.py, the table with the ratio of
# medians), and bench_torch.py --profile's op table. Figures are not checked:
# timings are never pass/fail; the test fails when a part breaks.
#   tests/tools/bench_smoke.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "bench_smoke: PyTorch (python3-torch) not installed"
    exit 77
fi
out=$("$src/tools/bench/bench_cpu_vs_torch.sh" --build "$build" --sizes 64 --batch 4 --context 40 \
    --steps 1 --warmup 0 --repeat 2)
echo "$out"
echo "$out" | grep -Eq '^64 +219776 +[0-9.]+ \([0-9. ]+\) +[0-9.]+ \([0-9. ]+\) +[0-9.]+x$' ||
    { echo "bench_smoke: no d = 64 row with two runs each and a ratio"; exit 1; }
prof=$(/usr/bin/python3 "$src/tools/bench/bench_torch.py" --d 64 --batch 4 --context 40 --steps 1 \
    --warmup-steps 0 --threads 1 --profile 2>&1 >/dev/null)
echo "$prof" | grep -q 'aten::mm' || { echo "bench_smoke: no aten::mm row in the profile"; echo "$prof"; exit 1; }
echo "bench_smoke: ok"
