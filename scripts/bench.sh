#!/usr/bin/env bash
# Builds and runs every benchmark, then prints the figures as a table.
#   scripts/bench.sh [--json FILE] [name...]   (names: files of build/bin/bench; default all)
# A benchmark reports a figure by printing a line "@figure <name> <number>".
set -euo pipefail
cd "$(dirname "$0")/.."
json=""
if [ "${1:-}" = "--json" ]; then json=$2; shift 2; fi
bash scripts/setup-deps.sh
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release >/dev/null

figures=$(mktemp)
trap 'rm -f "$figures"' EXIT
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for exe in build/bin/bench/*; do [ -x "$exe" ] && names+=("$(basename "$exe")"); done
fi
for name in "${names[@]}"; do
  echo "== $name"
  build/bin/bench/"$name" | tee /dev/stderr | awk '$1 == "@figure" { print $2, $3 }' >> "$figures"
done 2>&1

echo
printf '%-36s %s\n' figure value
awk '{ printf "%-36s %s\n", $1, $2 }' "$figures"
if [ -n "$json" ]; then
  awk 'BEGIN { printf "{" } { printf "%s\"%s\": %s", (NR > 1 ? ", " : ""), $1, $2 } END { print "}" }' \
    "$figures" > "$json"
  echo "figures written to $json"
fi
