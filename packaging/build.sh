#!/usr/bin/env bash
# Build the one-folder application into dist/denoise-studio/ and check that it starts and denoises.
# Usage: packaging/build.sh            (from anywhere; needs the project installed: pip install -e .)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
python3 -m pip install -q "pyinstaller>=6.3"
python3 -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/denoise-studio.spec
packaging/check_bundle.sh dist/denoise-studio
