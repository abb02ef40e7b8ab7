"""Check `nndsl weights` on torchvision's full VGG-16 (too big for CI: a 553 MB state dict).

    PYTHONPATH=. OMP_NUM_THREADS=1 python tools/weights_vgg16_check.py [FOLDER]

Saves `torchvision.models.vgg16(weights=None)`'s state dict (seeded), runs `nndsl weights
specs/vgg16.nnd vgg16.pth -o vgg16.npz --network Runtime`, generates the torch project, loads the
parameters and prints the largest difference between torchvision's output and the generated VGG16
unit's on one random 224x224 image (0.0 when this was written). FOLDER (default: a temporary one)
receives about 1.2 GB of files.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import import_generated  # noqa: E402

from nndsl.backends.torch import generate  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402


def main(folder: Path) -> None:
    torch.manual_seed(0)
    theirs = torchvision.models.vgg16(weights=None).eval()
    torch.save(theirs.state_dict(), folder / "vgg16.pth")
    start = time.time()
    argv = ["weights", "specs/vgg16.nnd", folder / "vgg16.pth", "-o", folder / "vgg16.npz", "--network", "Runtime"]
    r = subprocess.run([sys.executable, "-m", "nndsl", *map(str, argv), "--force"], cwd=ROOT, text=True)
    print(f"nndsl weights: exit {r.returncode} in {time.time() - start:.1f} s")
    generate(compile_file(str(ROOT / "specs" / "vgg16.nnd")).project, folder / "project")
    ours = import_generated(folder / "project").create_model()
    ours.load_params(folder / "vgg16.npz")
    ours.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = theirs(x)
        diff = (ours.vgg(x) - expected).abs().max().item()
    print(f"max abs difference {diff:.3g} (outputs up to {expected.abs().max().item():.3g})")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
