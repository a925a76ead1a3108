#!/usr/bin/env bash
# Builds and runs the split/tokenizer libFuzzer target for a bounded time.
#
#   run-fuzz.sh <source-dir> <work-dir> [seconds]     (seconds defaults to 20)
#
# Everything it writes goes under <work-dir>: the binary, a fresh working corpus seeded
# from tests/fuzz/corpus (the repository's corpus is never written to), and any crash
# artifacts. Exits non-zero if the target fails to compile or the fuzzer finds a crash.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 <source-dir> <work-dir> [seconds]" >&2
  exit 2
fi
src=$1
work=$2
seconds=${3:-20}

if ! command -v clang++ >/dev/null 2>&1; then
  echo "run-fuzz.sh: error: clang++ not found; install clang and libclang-rt-14-dev (the install script does) to run the fuzz test" >&2
  exit 1
fi

mkdir -p "$work"
bin=$work/split_tokenizer_fuzz
corpus=$work/corpus
artifacts=$work/artifacts

clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$src/include" "$src/tests/fuzz/split_tokenizer_fuzz.cpp" -o "$bin"

rm -rf "$corpus" "$artifacts"
mkdir -p "$corpus" "$artifacts"
cp "$src/tests/fuzz/corpus/"* "$corpus/"

"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$corpus"
