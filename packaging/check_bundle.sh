#!/usr/bin/env bash
# Check a built bundle headlessly: it lists its methods, denoises a built-in sample with
# non-local means and with FormResNet's shipped weights, and renders its window offscreen.
set -euo pipefail
bundle="${1:-dist/denoise-studio}"
exe="$bundle/denoise-studio"
out="$(mktemp -d)"
export QT_QPA_PLATFORM=offscreen
"$exe" --version
"$exe" methods > "$out/methods.txt"
head -n 5 "$out/methods.txt"
"$exe" denoise sample:astronaut -o "$out/astronaut-nlm.png" -m nlm --json
test -s "$out/astronaut-nlm.png" && test -s "$out/astronaut-nlm.png.json"
# A network method with its shipped weights (they must be inside the bundle).
"$exe" denoise sample:astronaut -o "$out/astronaut-formresnet.png" -m formresnet --json
test -s "$out/astronaut-formresnet.png"
"$exe" gui sample:chelsea --method bilateral --noise-sigma 25 --screenshot "$out/window.png"
test -s "$out/window.png"
echo "bundle OK: $bundle (outputs in $out)"
