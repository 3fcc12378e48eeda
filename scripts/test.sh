#!/usr/bin/env bash
# Install edgebench with its test dependencies, then run the whole test suite.
# Extra arguments go to pytest (e.g. -m "not slow" for the fast unit tests only).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
