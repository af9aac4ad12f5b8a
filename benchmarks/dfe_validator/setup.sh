#!/usr/bin/env bash
# Build the venv DfE's SSDA903 validator runs in (it pins pandas 1.5, so it cannot share
# the project's venv). Usage: bash benchmarks/dfe_validator/setup.sh [VENV_DIR]
# Default VENV_DIR: benchmarks/dfe_validator/.venv (git-ignored by the `.venv/` rule).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-${DFE903_VENV:-$here/.venv}}"
python="${PYTHON:-python3}"
version="0.1.17"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "csc-validator-be-903==$version"
"$venv/bin/python" -c "import lac_validator, pandas; print('lac_validator ready, pandas', pandas.__version__)"
echo "venv: $venv"
