#!/usr/bin/env bash
# Smoke test of the BUILT bundle, as on a clean machine: no venv, no project on PYTHONPATH,
# an empty HOME. Usage: packaging/smoke.sh [dist/dmw-twin]
set -euo pipefail
BUNDLE="$(cd "${1:-dist/dmw-twin}" && pwd)"
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
run() { env -i PATH=/usr/bin:/bin HOME="$WORK/home" LANG=C.UTF-8 "$BUNDLE/dmw-twin" "$@"; }
mkdir -p "$WORK/home"
cd "$WORK"
echo "== --version";   run --version
echo "== simulate";    run simulate --workshop "$BUNDLE/_internal/assets/workshops/machining13.toml" --hours 2 --seed 1 --out "$WORK/p.twinlog"
run simulate --workshop "$BUNDLE/_internal/assets/workshops/machining13.toml" --hours 2 --seed 2 --out "$WORK/v.twinlog" >/dev/null
echo "== info";        run info "$WORK/p.twinlog" | head -5
echo "== verify";      run verify --physical "$WORK/p.twinlog" --virtual "$WORK/v.twinlog" | tail -3
if run --help | grep -q " forecast"; then
  echo "== forecast";  run forecast --recording "$WORK/p.twinlog" --at 0:30:00 --runs 4 | tail -3
fi
if run --help | grep -q " evolve"; then
  echo "== evolve";    run evolve --help >/dev/null && echo "evolve: available"
fi
echo "== app under Xvfb"
env -i PATH=/usr/bin:/bin HOME="$WORK/home" LANG=C.UTF-8 \
  xvfb-run -a -s "-screen 0 1600x1000x24" "$BUNDLE/dmw-twin" --fresh --size 1400x900 \
  --warmup-min 30 --quit-after 12 --screenshot "$WORK/app.png"
python3 "$HERE/check_png.py" "$WORK/app.png" --min-colours 150
echo "smoke: 1 passed, 0 failed"
