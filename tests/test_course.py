"""pytcn.course, the tutorials' one helper: where figures go as a script, as a notebook and in the reduced mode."""
import os
import sys

import pytest

from pytcn import course


def test_a_script_in_tutorials_saves_beside_itself(tmp_path, monkeypatch):
    script = tmp_path / "repo" / "tutorials" / "03_x.py"
    script.parent.mkdir(parents=True)
    monkeypatch.setattr(sys, "argv", [str(script)])
    monkeypatch.setattr(course, "QUICK", False)
    monkeypatch.chdir(tmp_path)  # the working directory does not matter to a script
    assert course.tutorials_folder() == str(script.parent)
    assert course.figure_path("a.png") == str(script.parent / "figures" / "a.png")
    assert (script.parent / "figures").is_dir()
    assert course.repository_path("docs", "results.sqlite") == str(tmp_path / "repo" / "docs" / "results.sqlite")


@pytest.mark.parametrize("inside", [False, True])
def test_a_notebook_saves_under_the_working_directory(tmp_path, monkeypatch, inside):
    # the site's build runs notebooks from the repository root; Jupyter may have been started inside tutorials/
    (tmp_path / "tutorials").mkdir()
    monkeypatch.setattr(sys, "argv", ["/usr/lib/python3/site-packages/ipykernel_launcher.py", "-f", "k.json"])
    monkeypatch.setattr(course, "QUICK", False)
    monkeypatch.chdir(tmp_path / "tutorials" if inside else tmp_path)
    assert course.figure_path("b.png") == os.path.join(str(tmp_path), "tutorials", "figures", "b.png")


def test_the_reduced_mode_saves_in_one_temporary_folder(tmp_path, monkeypatch):
    script = tmp_path / "tutorials" / "01_x.py"
    script.parent.mkdir()
    monkeypatch.setattr(sys, "argv", [str(script)])
    monkeypatch.setattr(course, "QUICK", True)
    monkeypatch.setattr(course, "_temporary", [])
    first, second = course.figure_path("a.png"), course.figure_path("b.png")
    assert os.path.dirname(first) == os.path.dirname(second) != str(script.parent / "figures")
    assert os.path.isdir(os.path.dirname(first)) and not (script.parent / "figures").exists()


@pytest.mark.parametrize("name", ["", "figures/a.png", "../a.png", None, 3])
def test_a_figure_name_is_a_file_name(name):
    with pytest.raises(ValueError, match="name must be a file name without a folder"):
        course.figure_path(name)


def test_quick_reads_the_environment_variable(monkeypatch):
    import importlib

    monkeypatch.setenv("PYTCN_QUICK", "1")
    assert importlib.reload(course).QUICK is True
    monkeypatch.setenv("PYTCN_QUICK", "0")
    assert importlib.reload(course).QUICK is False
    monkeypatch.delenv("PYTCN_QUICK")
    importlib.reload(course)
