#!/usr/bin/env bash
# The project's test command (README Quickstart, step 2): quality gates, then pytest.
# Uses the venv that deploy/up.sh or .ci/run made, or whatever python is on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ] && [ -z "${VIRTUAL_ENV:-}" ]; then export PATH="$PWD/.venv/bin:$PATH"; fi
echo "--- ruff";          ruff check .
echo "--- mypy --strict"; mypy
echo "--- import-linter"; lint-imports
echo "--- pytest";        pytest "$@"
