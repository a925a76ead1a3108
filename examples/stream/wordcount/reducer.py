#!/usr/bin/env python3
"""Word count reducer (and combiner) for mapreduce-stream.

Its input is sorted by key, so the lines of a word are adjacent: sum each run of them.
"""
import sys

# A 64 KiB buffer of our own: one write per 64 KiB even where PYTHONUNBUFFERED is set (as
# in many container images), which would otherwise cost a system call per line.
out = open(sys.stdout.fileno(), "wb", buffering=1 << 16, closefd=False)
word, total = None, 0
for line in sys.stdin.buffer:
    key, _, value = line.rstrip(b"\n").partition(b"\t")
    if key != word:
        if word is not None:
            out.write(b"%s\t%d\n" % (word, total))
        word, total = key, 0
    total += int(value)
if word is not None:
    out.write(b"%s\t%d\n" % (word, total))
out.flush()
