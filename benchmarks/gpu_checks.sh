#!/usr/bin/env bash
# Every GPU-only measurement of the project in one pass (sized for a 15-minute device budget):
# attention kernels (#3), the recipe's training step beside plain transformers + DeepSpeed (#5; the
# recipe with its fused loss, with the full logits, and at micro-batch 16),
# batched evaluation vs lmms-eval's llava_hf on a 1B+ LLaVA (#6). Each script also prints why a
# backend could not run (xformers wheel built for another torch, llava_hf without decord...).
#
#     bash benchmarks/gpu_checks.sh [OUT_DIR]        # default OUT_DIR: gpu-results/
#     bash benchmarks/gpu_checks.sh --cpu-smoke DIR  # tiny shapes on the CPU: checks this script
#
# Needs the project installed (pip install -e '.[test]'; '.[xformers]' where its torch pin matches).
set -uo pipefail
cd "$(dirname "$0")/.."
mode=--quick
if [ "${1:-}" = "--cpu-smoke" ]; then mode=--cpu-smoke; shift; fi
out="${1:-gpu-results}"
mkdir -p "$out"
: > "$out/device.txt"
[ "$mode" = --quick ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/device.txt"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/device.txt"
status=0
step() {  # name, command...: run one benchmark, keep its output, note a failure and go on
    local name="$1"; shift
    echo "== $name: $*"
    "$@" 2>&1 | tee "$out/$name.txt"
    local rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || { echo "== $name exited $rc"; status=1; }
}
step attention timeout 180 python benchmarks/attention_gpu.py $mode
step train timeout 300 python benchmarks/train_gpu.py $mode --json "$out/train.json"
# the recipe with the full logits (recipe.fused_loss=false) at the same shape, then micro-batch 16 (the fused loss)
step train_plain_loss timeout 150 python benchmarks/train_gpu.py $mode --only recipe --plain-loss --json "$out/train_plain_loss.json"
step train_micro16 timeout 150 python benchmarks/train_gpu.py $mode --only recipe --micro 16 --checkpointing --json "$out/train_micro16.json"
step eval timeout 240 python benchmarks/eval_gpu.py $mode --out "$out/eval.md"
exit $status
