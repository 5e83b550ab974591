import os
import sys
from pathlib import Path

import pytest

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


@pytest.fixture(autouse=True, scope="module")
def torch_threads_reset_after_each_module():
    """Training code sets torch's thread count for the whole process; reset after each test
    module, so a module's numbers do not depend on which modules ran before it (a Grad-CAM++
    peak moved by 6 voxels when the prognosis-training tests had left one thread)."""
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
