#!/usr/bin/env bash
# Builds the consumer project three ways and runs it: against an installed tree with
# find_package, from the source tree with add_subdirectory, and with pkg-config alone.
#   run-consumer-tests.sh SOURCE_DIR BUILD_DIR WORK_DIR CXX
set -euo pipefail
src=$1 build=$2 work=$3 cxx=$4
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
failures=0
step() { # NAME COMMAND...
  local name=$1
  shift
  if "$@" >"$work/log" 2>&1; then echo "ok: $name"; else echo "FAILED: $name"; tail -20 "$work/log"; failures=$((failures + 1)); fi
}
step "find_package against the installed tree" bash -c "
  cmake -S '$src/tests/consumer' -B '$work/package' -DCMAKE_PREFIX_PATH='$prefix' -DCMAKE_CXX_COMPILER='$cxx' &&
  cmake --build '$work/package' && '$work/package/consumer'"
step "add_subdirectory of the source tree" bash -c "
  cmake -S '$src/tests/consumer' -B '$work/subdir' -DMODE=subdirectory -DMAPREDUCE_SOURCE_DIR='$src' -DCMAKE_CXX_COMPILER='$cxx' &&
  cmake --build '$work/subdir' --target consumer && '$work/subdir/consumer'"
step "pkg-config" bash -c "
  export PKG_CONFIG_PATH='$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig:$prefix/share/pkgconfig'
  '$cxx' '$src/tests/consumer/main.cpp' -o '$work/pc-consumer' \$(pkg-config --cflags --libs mapreduce) &&
  '$work/pc-consumer'"
test -x "$prefix/bin/wordcount" && echo "ok: the programs are installed" || { echo "FAILED: no wordcount in $prefix/bin"; failures=$((failures + 1)); }
echo "$((4 - failures)) passed, $failures failed"
[[ $failures -eq 0 ]]
