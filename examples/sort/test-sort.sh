#!/usr/bin/env bash
# Checks that mapreduce-sort writes exactly what `LC_ALL=C sort` writes, with the same -u and -r,
# on inputs chosen to break a line splitter or a byte comparison: empty files and lines, a
# last line without its newline, NUL and CR bytes, bytes of 0x80 and above, lines of 1 and
# 5 MiB, prefixes of each other, duplicates, 300 files, standard input, -o (onto one of its
# inputs too), 1 to 3 workers, and a 1M memory budget that makes it spill, after which --tmp
# must be empty again. Then its errors: a missing file, a directory
# or an unreadable file is exit status 2 and one line on stderr that names it; a bad option
# is exit status 2. Prints a PASS or FAIL line per check; exits 1 if any failed.
# usage: test-sort.sh MAPREDUCE_SORT
set -euo pipefail
if (($# != 1)); then
  echo "usage: test-sort.sh MAPREDUCE_SORT" >&2
  exit 2
fi
bin=$1
[[ $bin != */* ]] || bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")  # the checks run in $work
work=$(mktemp -d "${TMPDIR:-/tmp}/test-sort.XXXXXX")
trap 'chmod -R u+rwX "$work"; rm -rf "$work"' EXIT
cd "$work"
failed=0
pass() { echo "PASS: $1"; }
fail() {
  local why=$2
  echo "FAIL: $1: ${why//$'\n'/\\n}"
  failed=$((failed + 1))
}

# Runs mapreduce-sort with the arguments given and standard input from $stdin; sets rc, and
# leaves its standard output in got and its standard error in err.
stdin=/dev/null
run() {
  set +e
  "$bin" "$@" <"$stdin" >got 2>err
  rc=$?
  set -e
}

# NAME: the run that made got and err succeeded and got is want, byte for byte.
verdict() {
  if ((rc != 0)); then
    fail "$1" "exit status $rc: $(head -c 300 err)"
  elif ! cmp -s want got; then
    fail "$1" "output differs from sort's: $(cmp want got 2>&1 | head -n 1) (sort: $(wc -c <want) bytes," \
      "mapreduce-sort: $(wc -c <got))"
  else
    pass "$1"
  fi
}

# check NAME [--workers N | --memory SIZE | --tmp DIR]... ARG...: mapreduce-sort with all the
# arguments against `LC_ALL=C sort ARG...`; the leading options are mapreduce-sort's own.
check() {
  local name=$1
  shift
  local own=()
  while (($# >= 2)) && [[ $1 == --workers || $1 == --memory || $1 == --tmp ]]; do
    own+=("$1" "$2")
    shift 2
  done
  LC_ALL=C sort "$@" <"$stdin" >want
  run "${own[@]}" "$@"
  verdict "$name"
}

# check with -u, -r and both.
check_flags() {
  local name=$1
  shift
  check "$name" "$@"
  check "$name, -u" -u "$@"
  check "$name, -r" -r "$@"
  check "$name, -u -r" -u -r "$@"
}

# input_error NAME WHAT ARG...: exit status 2, nothing on stdout, and on stderr exactly one
# line, which contains WHAT.
input_error() {
  local name=$1 what=$2
  shift 2
  run "$@"
  if ((rc != 2)); then
    fail "$name" "exit status $rc, not 2: $(head -c 300 err)"
  elif [[ -s got ]]; then
    fail "$name" "printed on stdout: $(head -c 100 got)"
  elif [[ $(wc -l <err) != 1 || $(wc -c <err) != $(head -n 1 err | wc -c) ]]; then
    fail "$name" "not one line on stderr: $(head -c 300 err)"
  elif ! grep -qF -- "$what" err; then
    fail "$name" "stderr does not name '$what': $(cat err)"
  else
    pass "$name"
  fi
}

# ---- inputs -------------------------------------------------------------------------------
: >empty.txt
printf '\n\n\n\n\n' >newlines.txt
printf 'b\n\na\n\n\nc\n\n' >empty-lines.txt
printf 'c\nb\na' >no-newline.txt
printf 'only' >one-line-no-newline.txt
printf 'x\ny' >part1.txt
printf 'a\nb\n' >part2.txt
printf 'm' >part3.txt
printf '\n' >part4.txt
printf 'a\0b\na\n\0\nab\na\0a\n\0\0\n\0a\nb\0\n' >nul.txt
printf '\xff\nz\n\x80\n\xc3\xa9\nA\n\xc3\x28\n\xfe\xff\n~\n\x7f\ne\xcc\x81\n\xed\xa0\x80\n\xf8\x88\x80\x80\x80\n' >bytes.txt
printf 'a\r\nb\r\na\n\r\n\r\rx\n\ra\nb\r' >cr.txt
printf 'ab\na\na\x01\nab\0\n\na\xff\nabc\na \nab\na\n' >prefixes.txt

# Lines longer than any buffer or budget, equal for a megabyte before they differ, each a
# prefix of the next; the last one without its newline.
mib() { head -c $(($1 * 1048576)) /dev/zero | tr '\0' "$2"; }
{
  echo b
  mib 1 x && echo a
  mib 5 x && echo
  mib 1 x && echo b
  mib 1 x && echo
  echo xx
  echo y
  mib 1 w
} >long.txt

# Random printable lines, 0 to 120 bytes, a tenth of them repeated, and random bytes (NUL,
# CR and 0x80 to 0xff included) cut into lines where a newline happens to fall; from a fixed
# seed.
LC_ALL=C awk 'BEGIN {
  srand(1)
  for (p = 0; p < 256; p++) {
    piece = ""
    for (i = 0; i < 256; i++) piece = piece sprintf("%c", 32 + int(rand() * 95))
    pool = pool piece
  }
  for (bytes = 0; bytes < 4000000;) {
    if (rand() < 0.1) {
      line = "repeated " int(rand() * 50)
    } else {
      n = int(rand() * rand() * 121)
      line = substr(pool, 1 + int(rand() * (65536 - n)), n)
    }
    print line
    bytes += length(line) + 1
  }
}' >random.txt
LC_ALL=C awk 'BEGIN { srand(2); for (i = 0; i < 1000000; i++) printf "%c", int(rand() * 256) }' >binary.txt
LC_ALL=C awk 'BEGIN { srand(3); for (i = 0; i < 200000; i++) print (rand() < 0.05 ? "" : int(rand() * 10)) }' \
  >duplicates.txt

# 300 small files: some empty, some a lone newline, some without their last newline.
mkdir many
many=()
for ((i = 0; i < 300; i++)); do
  f=many/$i.txt
  many+=("$f")
  case $((i % 10)) in
    0) : >"$f" ;;
    1) printf '\n' >"$f" ;;
    2 | 5) printf 'file %d\nshared\n%d' "$i" $((i * 7919 % 300)) >"$f" ;;
    *) printf '%d\nshared\nfile %d\n' $((i * 7919 % 300)) "$i" >"$f" ;;
  esac
done

# ---- output against sort's ----------------------------------------------------------------
check_flags "empty file" empty.txt
check_flags "only newlines" newlines.txt
check_flags "empty lines" empty-lines.txt
check_flags "last line without a newline" no-newline.txt
check "one line without a newline" one-line-no-newline.txt
check "one line without a newline, 3 workers" --workers 3 one-line-no-newline.txt
check "empty file, 3 workers" --workers 3 empty.txt
check "files without their last newline" part1.txt part2.txt part3.txt part4.txt part3.txt empty.txt part1.txt
check_flags "NUL bytes" nul.txt
check_flags "bytes 0x80-0xff, invalid UTF-8" bytes.txt
check_flags "CR bytes" cr.txt
check_flags "prefixes" prefixes.txt
check_flags "1 and 5 MiB lines" long.txt
check "1 and 5 MiB lines, 1 worker" --workers 1 long.txt
check "1 and 5 MiB lines, 3 workers" --workers 3 long.txt
check_flags "duplicates" duplicates.txt
check "duplicates, 3 workers, -u" --workers 3 -u duplicates.txt
check_flags "random lines" random.txt
check_flags "random bytes" binary.txt
for w in 1 2 3; do
  check "random lines, --workers $w" --workers "$w" random.txt
  check "random lines, --workers $w, -u" --workers "$w" -u random.txt
done
check "random lines, twice" --workers 3 random.txt random.txt
check "all the small inputs" empty.txt newlines.txt empty-lines.txt no-newline.txt nul.txt bytes.txt cr.txt \
  prefixes.txt one-line-no-newline.txt
check_flags "300 files" "${many[@]}"
check "300 files, 3 workers" --workers 3 "${many[@]}"

stdin=random.txt check "standard input" -
stdin=random.txt check "standard input, no FILE" -r
stdin=no-newline.txt check "standard input between files" part1.txt - part3.txt
stdin=/dev/null check "empty standard input" -
LC_ALL=C sort -u binary.txt >want
set +e
# shellcheck disable=SC2002 # a pipe, which cannot be mapped or seeked, is the point
cat binary.txt | "$bin" -u >got 2>err
rc=$?
set -e
verdict "standard input through a pipe, -u"

# -o: nothing on stdout; and, as with sort, the output may be one of the inputs.
LC_ALL=C sort -r random.txt >want
run -o sorted.txt -r random.txt
mv got stdout.txt
cp sorted.txt got 2>/dev/null || : >got
if [[ -s stdout.txt ]]; then fail "-o FILE" "printed on stdout too"; else verdict "-o FILE"; fi
cp no-newline.txt in-place.txt
LC_ALL=C sort in-place.txt part1.txt >want
run -o in-place.txt in-place.txt part1.txt
cp in-place.txt got
verdict "-o FILE that is also an input"

# A budget far under the input: the run spills to --tmp, and leaves nothing there.
mkdir spill
check "random lines, --memory 1M" --memory 1M --tmp spill --workers 2 random.txt
check "random lines, --memory 1M, 3 workers, -u -r" --memory 1M --tmp spill --workers 3 -u -r random.txt
check "random bytes, --memory 1M" --memory 1M --tmp spill binary.txt
check "300 files, --memory 1M" --memory 1M --tmp spill "${many[@]}"
check "1 and 5 MiB lines, --memory 1M" --memory 1M --tmp spill long.txt
stdin=random.txt check "standard input, --memory 1M" --memory 1M --tmp spill -
# A pipe larger than the budget: buffered in shared memory up to it, then in --tmp.
LC_ALL=C sort random.txt >want
set +e
# shellcheck disable=SC2002 # a pipe, which cannot be mapped, is the point
cat random.txt | "$bin" --memory 1M --tmp spill --workers 2 >got 2>err
rc=$?
set -e
verdict "standard input through a pipe larger than --memory 1M"
left=$(find spill -mindepth 1 | head -n 5)
if [[ -n $left ]]; then fail "--tmp left empty" "left $left"; else pass "--tmp left empty"; fi

# ---- errors -------------------------------------------------------------------------------
input_error "a missing file" "$work/no-such-file.txt" "$work/no-such-file.txt"
input_error "a missing file after others" "$work/no-such-file.txt" random.txt part1.txt "$work/no-such-file.txt"
mkdir a-directory
input_error "a directory" "a-directory" a-directory
input_error "a directory among files" "a-directory" part1.txt a-directory part2.txt
cp part1.txt unreadable.txt
chmod 000 unreadable.txt
if [[ -r unreadable.txt ]]; then
  echo "SKIP: an unreadable file (this user reads files with mode 000)"
else
  input_error "an unreadable file" "unreadable.txt" part2.txt unreadable.txt
fi
for args in "--no-such-option" "-y" "--workers 0" "--memory lots"; do
  # shellcheck disable=SC2086 # the options are words
  run $args part1.txt
  if ((rc != 2)); then fail "bad option $args" "exit status $rc, not 2"; else pass "bad option $args"; fi
done

if ((failed > 0)); then
  echo "$failed checks failed"
  exit 1
fi
echo "all checks passed"
