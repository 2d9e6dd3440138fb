#!/usr/bin/env bash
# Installs what is missing, builds, and starts warmsited on its embedded defaults: a SQLite file
# under var/warmsite and the lab cloud host. Extra arguments go to warmsited.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
bash scripts/build.sh build
exec build/bin/warmsited --data-dir var/warmsite "$@"
