#!/usr/bin/env python3
"""Word count mapper for mapreduce-stream: one "word<TAB>1" line per word of stdin.

A word is what the C++ wordcount counts: a run of ASCII letters, ASCII digits and bytes
of 0x80 or above, with ASCII letters lower-cased. Bytes in, bytes out: no decoding.
"""
import re
import sys

WORD = re.compile(rb"[A-Za-z0-9\x80-\xff]+")

# A 64 KiB buffer of our own: one write per 64 KiB even where PYTHONUNBUFFERED is set (as
# in many container images), which would otherwise cost a system call per line.
out = open(sys.stdout.fileno(), "wb", buffering=1 << 16, closefd=False)
for line in sys.stdin.buffer:
    for word in WORD.findall(line):
        out.write(word.lower() + b"\t1\n")
out.flush()
