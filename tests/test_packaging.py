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
    cuda = [f"pytcn/kernels/cuda/{path.name}" for path in sorted((ROOT / "kernels" / "cuda").glob("*.py"))]
    assert "pytcn/kernels/cuda/__init__.py" in cuda and "pytcn/kernels/cuda/tiled.py" in cuda, cuda
    for module in ("pytcn/kernels/conv.py", "pytcn/tasks/mnist.py", "pytcn/tasks/adding.py", "pytcn/nn/model.py",
                   "pytcn/testing.py", "pytcn/nn/streaming.py", "pytcn/interop.py", "pytcn/kernels/stream.py", *cuda):
        assert module in names, f"{module} is missing from the wheel"


def test_benchmarks_and_tutorials_use_the_public_api_only():
    """What a benchmark or a tutorial uses of pytcn, a user can use too: no private names (a tutorial may show a
    private kernel's source with inspect.getsource, to read it)."""
    import ast

    for path in sorted([*ROOT.glob("benchmarks/*.py"), *ROOT.glob("tutorials/*.py")]):
        tree = ast.parse(path.read_text())
        shown = {id(n) for call in ast.walk(tree) if isinstance(call, ast.Call) and
                 isinstance(call.func, ast.Attribute) and call.func.attr == "getsource" for n in ast.walk(call)}
        for node in ast.walk(tree):
            if id(node) in shown:
                continue
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pytcn"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private and "._" not in node.module, f"{path.name}:{node.lineno} imports {private}"
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                base = node.value
                while isinstance(base, ast.Attribute):
                    base = base.value
                assert not (isinstance(base, ast.Name) and base.id in ("pytcn", "cli", "kernels", "cuda_kernels")), \
                    f"{path.name}:{node.lineno} uses the private {node.attr}"
