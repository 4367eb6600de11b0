#!/usr/bin/env bash
# GPU smoke test: one epoch of rotation_paper.yaml's GEMCONT training at reduced size (2000
# individuals, 256 px, batch 256, bf16 on CUDA), then a resume from last.pt for one more;
# prints samples/s, peak GPU memory and the losses. Exits non-zero without CUDA.
#   bash benchmarks/gpu_smoke.sh                      # on a CUDA machine, from anywhere
#   GPU_SMOKE_DEVICE=cpu bash benchmarks/gpu_smoke.sh --n-train 64 --image-size 64 --batch-size 32
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python
if [[ ! -x "$PY" ]]; then
    echo "gpu_smoke: $PY not found; create the virtual environment in the repository root" >&2
    exit 2
fi
if [[ "${GPU_SMOKE_DEVICE:-cuda}" == cuda* ]] && \
   ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_smoke: CUDA is not available to $PY (torch.cuda.is_available() is False)" >&2
    exit 3
fi
exec "$PY" benchmarks/_gpu_smoke.py "$@"
