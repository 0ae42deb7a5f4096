"""What `pip install` puts in site-packages: the package pytcn and nothing else at the top level."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_installs_pytcn_alone_with_its_kernels_and_tasks_inside(tmp_path):
    # kernels/ and tasks/ sit at the top of the repository; installed, they must be pytcn.kernels and pytcn.tasks,
    # never top-level packages named like other projects' (setup.cfg, package_dir)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("pytcn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names} - {name.split("/")[0] for name in names if ".dist-info/" in name}
    assert top_level == {"pytcn"}, sorted(names)
    for module in ("pytcn/kernels/conv.py", "pytcn/kernels/gpu.py", "pytcn/tasks/mnist.py", "pytcn/tasks/adding.py",
                   "pytcn/model.py"):
        assert module in names, f"{module} is missing from the wheel"
