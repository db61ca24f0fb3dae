#!/usr/bin/env bash
# Set up (first run) and run the main job: a private two-process query on the default model
# (MiniLM-L6 + sentiment head), server and client as separate processes over TLS on 127.0.0.1.
# Extra arguments replace the default sentence, e.g.:  bash run.sh --text "a dull, lifeless film"
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
if [ "$#" -eq 0 ]; then
  set -- --text "a gripping, beautifully acted film"
fi
exec .venv/bin/party demo --job bert-classify --model minilm-l6 "$@"
