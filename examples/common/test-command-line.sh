#!/usr/bin/env bash
# Checks what every program's command line shares (examples/common/cli.hpp): --help and
# --version print on stdout and exit 0; an unknown option, a missing value and a bad
# number are one line "NAME: message" on stderr, then the usage, and exit status 2.
# usage: test-command-line.sh PROJECT_DIR PROGRAM...
set -euo pipefail
project=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

version=$(sed -n 's/.*version_string = "\(.*\)";.*/\1/p' "$project/include/mapreduce/version.hpp")
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "no version_string in version.hpp: '$version'"

# Runs a command; rc is its exit status, $work/out and $work/err what it printed.
run() {
  set +e
  "$@" > "$work/out" 2> "$work/err"
  rc=$?
  set -e
}

# NAME MESSAGE COMMAND...: exit 2, nothing on stdout, and on stderr exactly one line of
# error, "NAME: MESSAGE", then the usage.
usage_error() {
  local name=$1 message=$2
  shift 2
  run "$@"
  local what="$name ${*:2}"
  [[ $rc == 2 ]] || fail "$what: exit status $rc"
  [[ ! -s $work/out ]] || fail "$what: printed on stdout: $(cat "$work/out")"
  [[ $(head -n 1 "$work/err") == "$name: $message" ]] || fail "$what: $(cat "$work/err")"
  [[ $(grep -c "^$name: " "$work/err") == 1 ]] || fail "$what: more than one error line: $(cat "$work/err")"
  [[ $(sed -n 2p "$work/err") == "usage: $name "* ]] || fail "$what: no usage after the error: $(cat "$work/err")"
}

for program in "$@"; do
  name=$(basename "$program")
  echo "$name"
  run "$program" --help
  [[ $rc == 0 && ! -s $work/err ]] || fail "$name --help: exit status $rc, stderr: $(cat "$work/err")"
  [[ $(head -n 1 "$work/out") == "usage: $name "* ]] || fail "$name --help: $(head -n 3 "$work/out")"
  grep -q -- '--version' "$work/out" || fail "$name --help does not list --version"
  run "$program" -h
  [[ $rc == 0 && $(head -n 1 "$work/out") == "usage: $name "* ]] || fail "$name -h: exit status $rc"

  run "$program" --version
  [[ $rc == 0 && ! -s $work/err ]] || fail "$name --version: exit status $rc, stderr: $(cat "$work/err")"
  [[ $(cat "$work/out") == "$name (mapreduce) $version" ]] || fail "$name --version: $(cat "$work/out")"

  usage_error "$name" "The following argument was not expected: --no-such-option" "$program" --no-such-option
  usage_error "$name" "The following argument was not expected: -y" "$program" -y
  if grep -q -- '-w,--workers N' <("$program" --help); then
    usage_error "$name" "--workers takes a whole number from 1 to 1024, not 'x'" "$program" --workers=x
    usage_error "$name" "--workers takes a whole number from 1 to 1024, not '0'" "$program" -w 0
    usage_error "$name" "--workers takes a whole number from 1 to 1024, not '1025'" "$program" -w1025
    usage_error "$name" "--workers takes a whole number from 1 to 1024, not '-2'" "$program" --workers -2
    usage_error "$name" "--workers: 1 required N missing" "$program" --workers
  fi
  if grep -q -- '--worker-memory SIZE' <("$program" --help); then
    usage_error "$name" "--worker-memory takes a size such as 512M or 2G, not 'lots'" "$program" --worker-memory lots
    usage_error "$name" "--worker-memory takes a size such as 512M or 2G, not '0'" "$program" --worker-memory=0
    usage_error "$name" "--worker-memory takes a size such as 512M or 2G, not '2X'" "$program" --worker-memory 2X
  fi
done
echo "all command-line checks passed"
