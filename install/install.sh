#!/usr/bin/env bash
# Installs defectscreen with every engine into ./.venv on a fresh Debian/Ubuntu machine.
# System libraries for GPAW come from apt; GPAW is compiled against them (about 1 minute).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq build-essential libxc-dev libopenblas-dev libfftw3-dev libopenmpi-dev >/dev/null
fi
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
GPAW_CONFIG="$PWD/install/gpaw-siteconfig.py" .venv/bin/pip install -q -e ".[dft,test]"
.venv/bin/python -c "import defectscreen, gpaw, tblite; print('defectscreen', defectscreen.__version__, 'installed')"
