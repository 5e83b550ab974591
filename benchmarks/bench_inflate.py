"""Which inflater reads our volumes fastest (a script, not a test).

    python benchmarks/bench_inflate.py FILE.nii.gz [...]

Inflates each file whole (the one pass that ``file_integrity`` makes: gzip stream, CRC and
length checked) with the standard ``zlib``, ``zlib-ng`` (``zlib_ng``) and ISA-L (``isal``)
when installed, and prints the best of three wall times per inflater for all files.
``file_integrity`` uses zlib-ng when present, else zlib.
"""

from __future__ import annotations

import sys
import time
import zlib


def inflaters() -> dict:
    found = {"zlib": zlib}
    try:
        from zlib_ng import zlib_ng

        found["zlib-ng"] = zlib_ng
    except ImportError:
        pass
    try:
        from isal import isal_zlib

        found["isal"] = isal_zlib
    except ImportError:
        pass
    return found


def main(paths: list[str]) -> int:
    data = [open(path, "rb").read() for path in paths]
    megabytes = sum(len(d) for d in data) / 2**20
    print(f"| inflater | best of 3, {len(data)} files ({megabytes:.1f} MB compressed) s |\n|---|---|")
    for name, module in inflaters().items():
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for blob in data:
                inflater = module.decompressobj(wbits=31)
                inflater.decompress(blob)
                assert inflater.eof
            best = min(best, time.perf_counter() - start)
        print(f"| {name} | {best:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
