#!/usr/bin/env bash
# Set up (first run) and run the main job: a real two-process secure query on the default model.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
exec .venv/bin/party demo "$@"
