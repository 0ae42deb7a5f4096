"""The course's one helper: whether a tutorial runs in the test suite's reduced mode, and where its figures go, so
that no tutorial opens with file-path plumbing.

    from pytcn.course import QUICK, figure_path
    fig.savefig(figure_path("03_gradient_support.png"))

The tutorials (tutorials/*.py) run three ways: as scripts (``python tutorials/03_....py``, from any folder), as
notebooks in Jupyter, and as the site's pages, which its build executes from the repository root. A script's
figures go beside it, in tutorials/figures/; a notebook's in tutorials/figures/ under the working directory (or
figures/ in it, when Jupyter was started inside tutorials/). With PYTCN_QUICK=1, the reduced mode the test suite
runs them in (fewer training steps), they go to a temporary folder instead, so that a test never replaces the
figures of a full run.
"""
import os
import sys
import tempfile

#: True in the reduced mode (the environment variable PYTCN_QUICK=1): fewer training steps, figures in a temporary
#: folder
QUICK = os.environ.get("PYTCN_QUICK") == "1"

_temporary = []  # the reduced mode's folder, made at the first figure


def tutorials_folder():
    """The tutorials/ folder: the folder of the script being run, when it is a tutorial run as a script; else
    tutorials/ under the working directory, or the working directory itself (a notebook has no file of its own)."""
    script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0].endswith(".py") else ""
    if script and os.path.basename(os.path.dirname(script)) == "tutorials":
        return os.path.dirname(script)
    return os.path.abspath("tutorials" if os.path.isdir("tutorials") else ".")


def repository_path(*parts):
    """A path in the repository, the folder above tutorials/: ``repository_path("docs", "results.sqlite")``."""
    return os.path.join(os.path.dirname(tutorials_folder()), *parts)


def figure_path(name):
    """Where a tutorial saves its figure ``name`` (a file name, e.g. "03_dilations.png"): tutorials/figures/, or in
    the reduced mode a temporary folder of this process. The folder is made if missing."""
    if not isinstance(name, str) or not name or os.path.basename(name) != name:
        raise ValueError(f"name must be a file name without a folder, got {name!r}")
    if QUICK:
        if not _temporary:
            _temporary.append(tempfile.mkdtemp(prefix="pytcn-figures-"))
        folder = _temporary[0]
    else:
        folder = os.path.join(tutorials_folder(), "figures")
        os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, name)
