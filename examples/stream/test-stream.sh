#!/usr/bin/env bash
# Checks mapreduce-stream end to end: the Python and awk word counts give exactly what the
# C++ wordcount gives, with and without a combiner, to stdout or to part files; failing
# and dying commands fail (or retry) their tasks; bad commands and options are one-line
# usage errors; options work as --name=value and in their short forms.
# usage: test-stream.sh MAPREDUCE_STREAM WORDCOUNT EXAMPLE_DIR PROJECT_DIR
set -euo pipefail
stream=$1 wordcount=$2 here=$3 project=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Input: the project's own text, plus upper case, digits, UTF-8 and odd separators.
inputs=("$project/README.md" "$project/docs/design.md" "$project/src/scheduler.cpp" "$project/include/mapreduce/pool.hpp")
printf 'Hello HELLO hello, wörld—Wörld x_y 42 42nd\n\n  tabs\there\r\nlast line without newline' > "$work/mixed.txt"
inputs+=("$work/mixed.txt")
"$wordcount" "${inputs[@]}" > "$work/expected"
[[ -s $work/expected ]] || fail "wordcount printed nothing"

py_map="python3 $here/wordcount/mapper.py" py_reduce="python3 $here/wordcount/reducer.py"
awk_map="env LC_ALL=C awk -f $here/wordcount/mapper.awk" awk_reduce="env LC_ALL=C awk -f $here/wordcount/reducer.awk"

echo "python word count == wordcount"
"$stream" --workers 2 --chunk-bytes 20000 --mapper "$py_map" --reducer "$py_reduce" --sort count "${inputs[@]}" > "$work/py"
diff "$work/expected" "$work/py" || fail "python word count differs"

echo "awk word count == wordcount"
"$stream" --workers 3 --partitions 5 --chunk-bytes 7000 --mapper "$awk_map" --reducer "$awk_reduce" --sort count \
  "${inputs[@]}" > "$work/awk"
diff "$work/expected" "$work/awk" || fail "awk word count differs"

echo "with a combiner, into part files"
"$stream" --workers 2 --partitions 3 --chunk-bytes 10000 --mapper "$py_map" --combiner "$py_reduce" \
  --reducer "$awk_reduce" --output "$work/out/" "${inputs[@]}"
[[ $(ls "$work/out" | tr '\n' ' ') == "part-00000 part-00001 part-00002 " ]] || fail "part files: $(ls "$work/out")"
for part in "$work"/out/part-*; do  # each partition is sorted by key
  cut -f1 "$part" | LC_ALL=C sort -c || fail "$part is not sorted by key"
done
diff <(LC_ALL=C sort "$work/expected") <(cat "$work"/out/part-* | LC_ALL=C sort) || fail "part files differ"

echo "into one file, which a failed job leaves as it was"
"$stream" --mapper "$py_map" --reducer "$py_reduce" --sort count --output "$work/counts.tsv" "${inputs[@]}"
diff "$work/expected" "$work/counts.tsv" || fail "--output FILE differs"
set +e
"$stream" --mapper "$py_map" --reducer false --max-attempts 1 --output "$work/counts.tsv" "${inputs[@]}" 2>/dev/null
rc=$?
set -e
[[ $rc == 1 ]] || fail "exit status $rc for a failing job with --output"
diff "$work/expected" "$work/counts.tsv" || fail "a failed job changed the old output"
[[ -z $(ls -A "$work" | grep '\.tmp-') ]] || fail "a failed job left a temporary file: $(ls -A "$work")"


echo "top and json"
"$stream" --mapper "$py_map" --reducer "$py_reduce" --top 5 --format json "${inputs[@]}" > "$work/top.json"
python3 - "$work/top.json" "$work/expected" <<'PY'
import json, sys
got = json.load(open(sys.argv[1]))
want = [l.rstrip("\n").split("\t") for l in open(sys.argv[2], encoding="utf-8")][:5]
assert [(d["key"], d["value"]) for d in got] == [(k, int(v)) for k, v in want], (got, want)
PY

echo "no reducer: the grouped, sorted lines"
printf 'b\t2\na\t1\nb\t1\nc\n' > "$work/pairs.txt"
"$stream" --mapper cat --partitions 1 "$work/pairs.txt" > "$work/grouped"
diff <(printf 'a\t1\nb\t2\nb\t1\nc\n') "$work/grouped" || fail "identity output differs"
"$stream" --mapper cat --partitions 1 --output /dev/stdout "$work/pairs.txt" > "$work/via-stdout"
diff "$work/grouped" "$work/via-stdout" || fail "--output /dev/stdout differs"
"$stream" --mapper cat --partitions 2 --output "$work/out/" "$work/pairs.txt"  # 3 parts there before
[[ $(ls -A "$work/out" | tr '\n' ' ') == "part-00000 part-00001 " ]] || fail "stale parts: $(ls -A "$work/out")"

echo "the mapper knows its file and offset"
printf 'one\ntwo\n' > "$work/a.txt"
printf 'three\n' > "$work/b.txt"
"$stream" --shell --partitions 1 --mapper 'sed "s|^|$MAPREDUCE_INPUT_FILE@$MAPREDUCE_INPUT_OFFSET\t|"' \
  "$work/a.txt" "$work/b.txt" > "$work/sources"
diff <(printf '%s\t%s\n' "$work/a.txt@0" one "$work/a.txt@0" two "$work/b.txt@0" three) "$work/sources" ||
  fail "MAPREDUCE_INPUT_FILE/OFFSET: $(cat "$work/sources")"

echo "a mapper that dies once is run again"
seq 1 5000 > "$work/numbers.txt"
"$stream" --shell --workers 2 --chunk-bytes 4000 --stats \
  --mapper "if mkdir '$work/died' 2>/dev/null; then kill -9 \$\$; fi; cat" "$work/numbers.txt" \
  > "$work/numbers.out" 2> "$work/numbers.err"
diff <(LC_ALL=C sort "$work/numbers.txt") <(LC_ALL=C sort "$work/numbers.out") || fail "retried job lost lines"
grep -q "1 retries" "$work/numbers.err" || fail "no retry counted: $(cat "$work/numbers.err")"

echo "a mapper that always fails fails the job, its stderr shown"
set +e
"$stream" --shell --max-attempts 2 --mapper 'echo "bad input here" >&2; exit 3' "$work/numbers.txt" \
  > /dev/null 2> "$work/fail.err"
rc=$?
set -e
[[ $rc == 1 ]] || fail "exit status $rc for a failing mapper"
grep -q '^\[map worker [0-9]* task 0\] bad input here$' "$work/fail.err" || fail "stderr not prefixed: $(cat "$work/fail.err")"
tail -n 1 "$work/fail.err" | grep -q "map task .*numbers.txt.* failed 2 times: attempt 1: .*mapper '.*' exited with status 3" ||
  fail "no clear error: $(tail -n 1 "$work/fail.err")"

echo "a failing reducer"
set +e
"$stream" --mapper cat --reducer false --max-attempts 1 "$work/numbers.txt" > /dev/null 2> "$work/rfail.err"
rc=$?
set -e
[[ $rc == 1 ]] || fail "exit status $rc for a failing reducer"
grep -q "reducer 'false' exited with status 1" "$work/rfail.err" || fail "reducer error: $(cat "$work/rfail.err")"

echo "usage and input errors: one line, exit 2"
usage_error() {
  set +e
  "$stream" "$@" > /dev/null 2> "$work/usage.err"
  local rc=$?
  set -e
  [[ $rc == 2 ]] || fail "exit status $rc for: $*"
  head -n 1 "$work/usage.err" | grep -q '^mapreduce-stream: ' || fail "no one-line error for: $*: $(cat "$work/usage.err")"
}
usage_error --mapper no-such-program-xyz "$work/numbers.txt"
usage_error --mapper cat "$work/missing.txt"
usage_error --mapper "'unterminated" "$work/numbers.txt"
usage_error --reducer cat "$work/numbers.txt"
usage_error --mapper cat --output "$work/o/" --sort key "$work/numbers.txt"
usage_error --mapper cat --output "$work/no-such-dir/out.tsv" "$work/numbers.txt"
# MESSAGE ARGS...: a usage error whose one line is exactly "mapreduce-stream: MESSAGE".
usage_error_is() {
  local message=$1
  shift
  usage_error "$@"
  [[ $(head -n 1 "$work/usage.err") == "mapreduce-stream: $message" ]] || fail "for $*: $(cat "$work/usage.err")"
  [[ $(grep -c '^mapreduce-stream: ' "$work/usage.err") == 1 ]] || fail "not one line for $*: $(cat "$work/usage.err")"
}
usage_error_is "The following argument was not expected: --frobnicate" --mapper cat --frobnicate "$work/numbers.txt"
# A misspelt option is reported as such, not as the --mapper it leaves missing.
usage_error_is "The following argument was not expected: --maper" --maper cat "$work/numbers.txt"
usage_error_is "--mapper is required" "$work/numbers.txt"
usage_error_is "--workers takes a whole number from 1 to 1024, not 'x'" --mapper cat --workers=x "$work/numbers.txt"
usage_error_is "--sort takes key or count, not 'size'" --mapper cat --sort size "$work/numbers.txt"
usage_error_is "--format takes tsv, csv or json, not 'xml'" --mapper cat --format=xml "$work/numbers.txt"

echo "options as --name=value and short forms; --version"
"$stream" --workers=2 --partitions=1 --mapper=cat "$work/pairs.txt" > "$work/long-forms"
diff "$work/grouped" "$work/long-forms" || fail "--workers=2 --partitions=1 --mapper=cat differs"
"$stream" -w 2 -p 1 --mapper cat -o "$work/short-forms" "$work/pairs.txt"
diff "$work/grouped" "$work/short-forms" || fail "-w 2 -p 1 -o FILE differs"
"$stream" -w2 -n 3 --mapper "$py_map" --reducer "$py_reduce" "${inputs[@]}" > "$work/top3"
diff <(head -n 3 "$work/expected") "$work/top3" || fail "-n 3 differs"
version=$(sed -n 's/.*version_string = "\(.*\)";.*/\1/p' "$project/include/mapreduce/version.hpp")
[[ -n $version && $("$stream" --version) == "mapreduce-stream (mapreduce) $version" ]] ||
  fail "--version: $("$stream" --version)"
echo "all stream checks passed"
