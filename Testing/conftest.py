import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The core and the Slicer Lib live in the scripted module folder (as Slicer puts it on sys.path).
sys.path.insert(0, str(ROOT / "BrainTumorAI"))
# training/ is a program folder beside the package, imported by its tests as `training`.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Keep the 2-core CI machine responsive and runs repeatable.
os.environ.setdefault("OMP_NUM_THREADS", "2")

# One real BraTS 2023 case (four MRI files named <folder>-{t1n,t1c,t2w,t2f}.nii.gz); tests that
# need it skip without it. BRAINTUMORAI_REAL_SAMPLE points at another copy of such a folder.
REAL_SAMPLE = Path(os.environ.get("BRAINTUMORAI_REAL_SAMPLE",
                                  ROOT.parent / "shared" / "data" / "real-sample" / "BraTS-GLI-00001-000"))
