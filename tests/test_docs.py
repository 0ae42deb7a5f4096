"""The README's example and the tutorials run as written."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

from tests.helpers import needs_fashion_mnist, needs_numba_cuda

ROOT = pathlib.Path(__file__).resolve().parent.parent


def readme_examples():
    """The README's python blocks: (those for the CPU, those using backend="cuda"), without those that a test of
    their own runs (first line: '# runs in tests/...', given that test's data; readme_block finds them)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "README.md has no python example"
    blocks = [b for b in blocks if not b.startswith("# runs in tests/")]
    return [b for b in blocks if 'backend="cuda"' not in b], [b for b in blocks if 'backend="cuda"' in b]


def test_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example saves a model in the current folder
    namespace = {}
    exec(compile("\n".join(readme_examples()[0]), "README.md", "exec"), namespace)
    assert namespace["model"].receptive_field == 631
    assert namespace["same"].config == namespace["model"].config


@needs_numba_cuda
@pytest.mark.usefixtures("cuda_by_name_for_tests")  # the example names backend "cuda", as a user would
def test_readme_gpu_example_runs(tmp_path, monkeypatch):
    # on a GPU, or in numba-cuda's simulator (tests/conftest.py)
    monkeypatch.chdir(tmp_path)
    cpu, gpu = readme_examples()
    assert gpu, "README.md has no GPU example"
    namespace = {}
    exec(compile("\n".join(cpu + gpu), "README.md", "exec"), namespace)
    assert namespace["gpu_model"].backend.name == "cuda" and namespace["loss"] > 0


# the GPU tutorial needs numba-cuda (in the test extra); it runs in the simulator where there is no GPU. The
# Fashion-MNIST tutorial needs the dataset's files
NEEDS = {"gpu": [needs_numba_cuda], "fashion_mnist": [needs_fashion_mnist]}
TUTORIALS = [pytest.param(p, id=p.name, marks=[m for key, marks in NEEDS.items() if key in p.name for m in marks])
             for p in sorted((ROOT / "tutorials").glob("*.py"))]


@pytest.mark.parametrize("path", TUTORIALS)
def test_tutorial_runs(path):
    # PYTCN_QUICK=1: the tutorials' reduced mode (fewer training steps, figures in a temporary folder)
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env=dict(os.environ, PYTCN_QUICK="1"))
    assert result.returncode == 0, result.stderr
    if path.name == "01_quickstart_adding.py":  # the README's main command: the loss must fall well below baseline
        last = [line for line in result.stdout.splitlines() if "validation MSE" in line][-1]
        assert float(re.search(r"validation MSE ([0-9.]+)", last).group(1)) < 0.167 / 4, result.stdout
    if "gpu" in path.name:  # the GPU model must have followed the CPU model
        difference = re.search(r"largest weight difference after 3 training steps: (\S+)", result.stdout).group(1)
        assert float(difference) < 1e-10, result.stdout


def test_every_image_and_link_of_the_docs_exists():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()  # markdown links and images, and the src of HTML images
        for target in re.findall(r"\]\(([^)#]+)\)", text) + re.findall(r'<img [^>]*src="([^"]+)"', text):
            if target.startswith(("http://", "https://")):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


@pytest.mark.parametrize("path", sorted((ROOT / "tutorials").glob("*.py")), ids=lambda p: p.name)
def test_every_tutorial_cites_what_it_draws_on(path):
    # a references section between the summary and the exercises, each entry a work and what the tutorial takes
    # from it
    text = path.read_text()
    assert text.index("# ## Summary") < text.index("# ## References") < text.index("# ## Exercises"), path.name
    section = text[text.index("# ## References"):text.index("# ## Exercises")]
    entries = [" ".join(line.lstrip("# ") for line in entry.splitlines()) for entry in section.split("\n# - ")[1:]]
    assert entries and all(re.search(r"\S: \S", entry) for entry in entries), section


@pytest.mark.parametrize("path", sorted((ROOT / "tutorials").glob("*.py")), ids=lambda p: p.name)
def test_every_tutorial_heading_is_in_a_markdown_cell(path):
    # a heading left in a code cell (its `# %% [markdown]` marker lost) renders as a code comment on the site
    cell, misplaced = None, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("# %%"):
            cell = "markdown" if "[markdown]" in line else "code"
        elif line.startswith("# #") and cell == "code":
            misplaced.append(f"{path.name}:{number}: {line}")
    assert not misplaced, "headings in code cells:\n" + "\n".join(misplaced)
