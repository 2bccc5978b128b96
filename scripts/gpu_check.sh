#!/usr/bin/env bash
# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
#
# On a machine with CUDA: the benchmark on the GPU in one command, under 8 minutes.
#
#   scripts/gpu_check.sh [OUT.json]        (default gpu_check.json)
#
# For the shipped model and the OWL-ViT-B/32-sized one (random weights, built and exported
# once into ~/.cache/vlm_perception/bench): the model alone at the default precision (fp16
# on CUDA), then torch fp32 on CUDA interleaved with torch fp16, ONNX Runtime's CUDA
# provider on the fp32 export (TensorRT's when onnxruntime-gpu finds TensorRT) and
# TensorRT fp16 (where TensorRT is), each compared with torch fp32 on the CPU (boxes,
# scores). Needs the CUDA build of torch; ONNX Runtime's variants need onnxruntime-gpu
# (pip install "vlm_perception[onnxruntime-gpu]", instead of onnxruntime).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-gpu_check.json}
minutes=${GPU_CHECK_MINUTES:-8}
if [ -f "$root/scripts/env.sh" ] && [ -d "$root/install" ]; then
    # shellcheck source=/dev/null
    source "$root/scripts/env.sh"
fi
python=${PYTHON:-python3}

if ! "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA device (torch.cuda.is_available() is False); this check needs" \
         "a GPU and the CUDA build of torch" >&2
    exit 2
fi
variants=$("$python" -m vlm_perception.bench.runtimes)
echo "gpu_check: variants $variants; report in $out (at most $minutes minutes)" >&2
timeout --signal=INT "$((minutes * 60))" "$python" -m vlm_perception.cli bench --device cuda \
    --only model,runtimes --models default,owl --runtimes "$variants" --json "$out"
"$python" - "$out" <<'PY'
import json
import sys

report = json.load(open(sys.argv[1]))
print('\nparity with torch fp32 on the CPU (boxes in pixels, p95 / max):')
for key, entry in report['models'].items():
    for name, variant in entry['runtimes']['variants'].items():
        found = variant['agreement_with_torch_fp32_cpu']
        boxes = found['box_error_px'] or {}
        print(f'  {key:14s} {name:18s} speed-up {variant["speedup_forward"]}x, '
              f'{found["matched"]}/{found["reference"]} detections matched, boxes p95 '
              f'{boxes.get("p95")} max {boxes.get("max")} px')
PY
