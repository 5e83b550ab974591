"""Where ``Classifier.predict`` spends its time (a script, not a test).

    python benchmarks/profile_predict.py STUDY_DIR [N_TOP]

Loads the default classifier, classifies the study once to warm up (imports, first-call
allocations), then profiles one more ``predict`` with cProfile and prints the top N_TOP
(default 30) functions by cumulative time and the wall time of the profiled call.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    from braintumorai.pipeline import Classifier

    files = sorted(str(p) for p in Path(argv[0]).iterdir() if p.is_file() and "seg" not in p.name.lower())
    top = int(argv[1]) if len(argv) > 1 else 30
    classifier = Classifier.load(device="cpu")
    classifier.predict(files)
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    result = classifier.predict(files)
    profile.disable()
    wall = time.perf_counter() - start
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(top)
    print(f"predict on {argv[0]}: {wall:.3f} s wall (profiled); stages {result.timings}")
    print(text.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
