#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang in build-fuzz/ (ASan + UBSan on everything) and
# runs each one for a while from its seed corpus:
#   scripts/fuzz.sh [seconds per target, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
bash scripts/setup-deps.sh
# -O0: compiles in about half the time of -O1 -g1 with the sanitizers (measured), which keeps
# CI within its hour; the short runs need coverage more than speed.
CC=clang-16 CXX=clang++-16 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWARMSITE_FUZZ=ON -DWARMSITE_BUILD_TESTS=OFF -DWARMSITE_BUILD_BENCH=OFF \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O0" -DWARMSITE_FUZZ_SECONDS="$seconds"
cmake --build build-fuzz -j "$(nproc)" --target fuzz_api_request fuzz_address_lists \
  fuzz_clouddirector_parsers
(cd build-fuzz && ctest --output-on-failure -L fuzz)
