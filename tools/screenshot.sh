#!/usr/bin/env bash
# Screenshots a study report (report/index.html) with headless Chromium, e.g. for the README:
#   tools/screenshot.sh report/index.html docs/report-screenshot.png [width] [height]
# A height of 0 captures the first 16000 px, enough for a whole study report (below its end: background).
set -euo pipefail
html="${1:?usage: tools/screenshot.sh REPORT.html OUT.png [width] [height]}"
out="${2:?usage: tools/screenshot.sh REPORT.html OUT.png [width] [height]}"
width="${3:-1280}"
height="${4:-2400}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] || { echo "tools/screenshot.sh: $chromium not found; bash scripts/setup.sh installs it" >&2; exit 2; }
[ -f "$html" ] || { echo "tools/screenshot.sh: $html: no such file" >&2; exit 2; }
if [ "$height" = 0 ]; then height=16000; fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
url="file://$(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile" \
  --screenshot="$out" --window-size="$width,$height" "$url" 2>/dev/null >/dev/null
echo "$out"
