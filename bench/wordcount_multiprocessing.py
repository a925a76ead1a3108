#!/usr/bin/env python3
"""The baseline a Python user writes for a parallel word count: multiprocessing.Pool.map
over chunks of the file, a Counter per chunk, merged in the parent. Same word definition
as wordcount and examples/stream/wordcount/mapper.py. Prints the top 20.

usage: wordcount_multiprocessing.py PROCESSES FILE
"""
import collections
import multiprocessing
import re
import sys

WORD = re.compile(rb"[A-Za-z0-9\x80-\xff]+")
CHUNK = 1 << 20


def count(chunk: bytes) -> collections.Counter:
    return collections.Counter(w.lower() for w in WORD.findall(chunk))


def chunks(path: str):
    # Cut at newlines so no word is split: each chunk is about CHUNK bytes of whole lines.
    with open(path, "rb") as f:
        rest = b""
        while True:
            block = f.read(CHUNK)
            if not block:
                if rest:
                    yield rest
                return
            block = rest + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                rest = block
                continue
            yield block[:cut]
            rest = block[cut:]


def main() -> None:
    processes, path = int(sys.argv[1]), sys.argv[2]
    total = collections.Counter()
    with multiprocessing.Pool(processes) as pool:
        for partial in pool.imap_unordered(count, chunks(path)):
            total.update(partial)
    out = sys.stdout.buffer
    for word, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:20]:
        out.write(b"%s\t%d\n" % (word, n))


if __name__ == "__main__":
    main()
