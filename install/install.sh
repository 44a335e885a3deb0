#!/usr/bin/env bash
# Installs defectscreen with every engine into ./.venv on a fresh Debian/Ubuntu machine.
# System libraries for GPAW come from apt; GPAW is compiled against them (about 1 minute).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq build-essential libxc-dev libopenblas-dev libfftw3-dev libopenmpi-dev >/dev/null
    # SLEPc/PETSc with MUMPS for the large-cell window solver (engines/slepc.py). Debian's build runs in the
    # system Python (numpy 1.x); pip would compile PETSc for > 40 minutes.
    apt-get install -y -qq python3-petsc4py python3-slepc4py >/dev/null
    # Headless Chromium renders the HTML screening report in its test (about 25 s).
    apt-get install -y -qq chromium >/dev/null
fi
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
# torch first, pinned: the CPU wheel on this machine's disk; an unpinned torch pulls a multi-GB CUDA build.
.venv/bin/pip install -q torch==2.13.0
GPAW_CONFIG="$PWD/install/gpaw-siteconfig.py" .venv/bin/pip install -q -e ".[dft,test]"
# NequIP/Allegro and SevenNet in their own environment: nequip >= 0.7 and sevenn need e3nn >= 0.5, mace-torch pins
# e3nn 0.4.4. sevenn is pinned: its wheel ships the foundation weights (SevenNet-0) that fine-tuning starts from.
python3 -m venv .venv-nequip
.venv-nequip/bin/pip install -q --upgrade pip
.venv-nequip/bin/pip install -q torch==2.13.0
.venv-nequip/bin/pip install -q "nequip>=0.7" "nequip-allegro>=0.8" "sevenn==0.13.0"
.venv-nequip/bin/python -c "import nequip, allegro, sevenn"
.venv/bin/python -c "import defectscreen, gpaw, tblite, mace; print('defectscreen', defectscreen.__version__, 'installed')"
