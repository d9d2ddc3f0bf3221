#!/usr/bin/env bash
# Render an HTML report in headless Chromium to a PNG, to look at it as a
# reader would. Not part of CI. Needs Debian's `chromium` package
# (`apt-get install chromium`).
#
#   scripts/screenshot.sh flowmeter-report-weekly-2026-W44.html [out.png] [width]
set -euo pipefail
html=${1:?usage: scripts/screenshot.sh REPORT.html [OUT.png] [WIDTH]}
png=${2:-${html%.html}.png}
width=${3:-1280}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "error: no Chromium found; install Debian's \`chromium\` package" >&2
  exit 2
fi
# Tall enough for the whole weekly report; the page itself is static.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size="$width,4200" --screenshot="$png" "file://$(realpath "$html")" 2>/dev/null
echo "wrote $png"
