#!/usr/bin/env python3
"""The Python figure beside Pool::imap's fixed cost: multiprocessing.Pool.imap squaring
1000 integers with 2 processes, chunksize 1 and 16, the pool already started (so its
start-up is not counted, unlike the forks in mapreduce's figures). Prints Markdown rows
for the fixed-cost table: the best of 5 runs each.
"""
import multiprocessing
import time


def square(x: int) -> int:
    return x * x


def main() -> None:
    with multiprocessing.Pool(2) as pool:
        sum(pool.imap(square, range(1000)))  # the workers are up and warm
        for chunk in (1, 16):
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                sum(pool.imap(square, range(1000), chunksize=chunk))
                best = min(best, time.perf_counter() - start)
            print(f"| Python multiprocessing.Pool.imap, 1000 items, chunksize {chunk}, 2 processes | {best * 1e6:.0f} us |")


if __name__ == "__main__":
    main()
