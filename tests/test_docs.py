"""The README's example and the tutorials run as written."""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_python_example_runs():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README.md has no python example"
    namespace = {}
    exec(compile("\n".join(blocks), "README.md", "exec"), namespace)
    assert namespace["model"].receptive_field == 631


def test_quickstart_tutorial_trains_below_the_adding_baseline():
    result = subprocess.run([sys.executable, str(ROOT / "tutorials" / "01_quickstart_adding.py")],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    last = [line for line in result.stdout.splitlines() if "validation MSE" in line][-1]
    val = float(re.search(r"validation MSE ([0-9.]+)", last).group(1))
    assert val < 0.167 / 4, result.stdout
