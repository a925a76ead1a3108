#!/usr/bin/env bash
# MPI tests: mpirun -np 1, 2 and 3 on this machine must give what one machine gives.
#   run-mpi-tests.sh SOURCE_DIR WORDCOUNT WORDCOUNT_MPI MPI_INDEX_TEST WORK_DIR
set -euo pipefail
src=$1 wc=$2 wcmpi=$3 index=$4 work=$5
mkdir -p "$work"
run=(mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && run+=(--allow-run-as-root)
failures=0
check() { # NAME EXPECTED-FILE ACTUAL-FILE
  if cmp -s "$2" "$3"; then echo "ok: $1"; else echo "FAILED: $1"; diff "$2" "$3" | head -5; failures=$((failures + 1)); fi
}

# The project's own sources and docs: many files of uneven sizes.
mapfile -t files < <(find "$src/include" "$src/src" "$src/docs" "$src/README.md" -type f | sort)
"$wc" --workers 2 --chunk-bytes 4096 "${files[@]}" >"$work/expected.txt"
tiny=$work/tiny.txt
printf 'One line, ONE file: three ranks, one split.\n' >"$tiny"
"$wc" "$tiny" >"$work/expected-tiny.txt"
for np in 1 2 3; do
  "${run[@]}" -np "$np" "$wcmpi" --workers 2 --chunk-bytes 4096 "${files[@]}" >"$work/np$np.txt"
  check "wordcount-mpi -np $np equals wordcount" "$work/expected.txt" "$work/np$np.txt"
  "${run[@]}" -np "$np" "$wcmpi" "$tiny" >"$work/tiny-np$np.txt"  # ranks with no split
  check "wordcount-mpi -np $np on one small file" "$work/expected-tiny.txt" "$work/tiny-np$np.txt"
  if "${run[@]}" -np "$np" "$index" "${files[@]}"; then echo "ok: per-key reducer -np $np"; else
    echo "FAILED: per-key reducer -np $np"; failures=$((failures + 1)); fi
  if "${run[@]}" -np "$np" "$index" --per-rank "${files[@]}"; then echo "ok: per-rank inputs -np $np"; else
    echo "FAILED: per-rank inputs -np $np"; failures=$((failures + 1)); fi
done

# The shuffle of a per-key job between ranks over TCP only, as between machines (no shared
# memory transport between the ranks).
if "${run[@]}" --mca btl tcp,self -np 3 "$index" "${files[@]}"; then echo "ok: per-key reducer -np 3 over TCP"; else
  echo "FAILED: per-key reducer -np 3 over TCP"; failures=$((failures + 1)); fi

# The options as wordcount reads them, short and with '='; --version from rank 0 only.
"${run[@]}" -np 2 "$wcmpi" -w 2 --chunk-bytes=4096 "${files[@]}" >"$work/short-options.txt"
check "wordcount-mpi -w 2 --chunk-bytes=4096 equals wordcount" "$work/expected.txt" "$work/short-options.txt"
version=$(sed -n 's/.*version_string = "\(.*\)";.*/\1/p' "$src/include/mapreduce/version.hpp")
"${run[@]}" -np 3 "$wcmpi" --version >"$work/version.txt"
check "wordcount-mpi --version: one line from rank 0" <(echo "wordcount-mpi (mapreduce) $version") "$work/version.txt"

# A bad input: one line from rank 0 (mpirun adds its own report of the exit status),
# exit 2, no rank left waiting.
set +e
"${run[@]}" -np 3 "$wcmpi" "$work/missing.txt" >"$work/out.txt" 2>"$work/err.txt"
status=$?
set -e
expected_err="wordcount-mpi: $work/missing.txt: cannot open: No such file or directory"
if [[ $status -eq 2 && "$(grep -c '^wordcount-mpi:' "$work/err.txt")" -eq 1 &&
      "$(head -n 1 "$work/err.txt")" == "$expected_err" ]]; then
  echo "ok: a missing file fails every rank with one line"
else
  echo "FAILED: missing file: status $status, stderr:"; cat "$work/err.txt"; failures=$((failures + 1))
fi
echo "$((17 - failures)) passed, $failures failed"
[[ $failures -eq 0 ]]
