#!/usr/bin/env bash
# The Agent OS demo: the full loop offline on the built-in sandbox forge.
#   ./demo.sh                 scripted demo agent (no model, no network)
#   ./demo.sh --agent claude  a real agent CLI with your own credentials
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ] || [ requirements.txt -nt .venv/.installed ] || [ requirements-dev.txt -nt .venv/.installed ]; then
  echo "setting up .venv (one time)…"
  make -s install
fi
exec .venv/bin/python -m orchestrator.demo.runner "$@"
