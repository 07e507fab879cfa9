#!/usr/bin/env bash
# The Python client's suite: a virtual environment with the pinned versions, the package built
# (which generates the stubs from proto/), and pytest against the real crm-server.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf build
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
.venv/bin/pip install --quiet --disable-pip-version-check --no-build-isolation .
.venv/bin/python -m pytest -q "$@"
