"""The README's example and the tutorials run as written."""
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_python_example_runs():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README.md has no python example"
    namespace = {}
    exec(compile("\n".join(blocks), "README.md", "exec"), namespace)
    assert namespace["model"].receptive_field == 631


TUTORIALS = sorted((ROOT / "tutorials").glob("*.py"))


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_runs(path):
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    if path.name == "01_quickstart_adding.py":  # the README's main command: the loss must fall well below baseline
        last = [line for line in result.stdout.splitlines() if "validation MSE" in line][-1]
        assert float(re.search(r"validation MSE ([0-9.]+)", last).group(1)) < 0.167 / 4, result.stdout
