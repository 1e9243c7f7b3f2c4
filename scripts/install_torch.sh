#!/usr/bin/env bash
# Install torch into the given Python's environment without breaking GPU users:
#  - torch already importable: keep it (a GPU user's CUDA build stays untouched);
#  - CUDA present (nvidia-smi): the default build from PyPI, which carries CUDA;
#  - no CUDA: the CPU build, from a local wheel folder if pip is configured with one (offline
#    machines), else from PyTorch's CPU index (never the multi-GB CUDA build).
set -euo pipefail
PY="${1:-python3}"
if "$PY" -c "import torch" 2>/dev/null; then
  echo "torch $("$PY" -c 'import torch; print(torch.__version__)') already installed: kept"
  exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  "$PY" -m pip install "torch>=2.4"
  exit 0
fi
CPU_TORCH="${S1_CPU_TORCH:-torch==2.13.0}"
# a CPU wheel in pip's configured --find-links folder (offline machines): take it, then its
# dependencies from the usual index
if "$PY" -m pip install -q --no-index --no-deps "$CPU_TORCH" 2>/dev/null; then
  "$PY" -m pip install -q "$CPU_TORCH"
  exit 0
fi
"$PY" -m pip install "$CPU_TORCH" --index-url https://download.pytorch.org/whl/cpu \
  --extra-index-url https://pypi.org/simple
