#!/usr/bin/env bash
# Install the desktop entry, icon and AppStream metadata for the current user
# (use PREFIX=/usr/local with sudo for every user). The `denoise-studio` command must be on PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${PREFIX:-$HOME/.local}"
id=io.github.denoise_studio.DenoiseStudio
install -Dm644 "$here/$id.desktop" "$prefix/share/applications/$id.desktop"
install -Dm644 "$here/$id.metainfo.xml" "$prefix/share/metainfo/$id.metainfo.xml"
install -Dm644 "$here/../../resources/icons/denoise-studio.svg" "$prefix/share/icons/hicolor/scalable/apps/$id.svg"
install -Dm644 "$here/../../resources/icons/denoise-studio-256.png" "$prefix/share/icons/hicolor/256x256/apps/$id.png"
command -v update-desktop-database >/dev/null && update-desktop-database "$prefix/share/applications" || true
echo "installed $id under $prefix"
