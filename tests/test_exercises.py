"""The build-it-yourself track (tutorials/build/, pytcn.exercises): the solutions pass every check, the stubs fail
every one as stubs, and a bug planted in each solution is caught by its own piece's check, with a hint."""
import subprocess
import sys
from pathlib import Path

import pytest

from pytcn import exercises

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "tutorials" / "build"

#: piece -> (a line of solutions.py, what it becomes): one planted bug per piece, in its own function
BUGS = {
    "conv_forward": ("y[:, :, shift:] += np.einsum(\"oi,nit->not\", W[:, :, j], x[:, :, :T - shift])",
                     "y[:, :, shift:] += np.einsum(\"oi,nit->not\", W[:, :, K - 1 - j], x[:, :, :T - shift])"),
    "conv_backward_input": ("dx[:, :, :T - shift] += np.einsum(\"oi,not->nit\", W[:, :, j], dy[:, :, shift:])",
                            "dx[:, :, :T - shift] += np.einsum(\"oi,not->nit\", W[:, :, j], dy[:, :, :T - shift])"),
    "conv_backward_weight": ("dW[:, :, j] = np.einsum(\"not,nit->oi\", dy[:, :, shift:], x[:, :, :T - shift])",
                             "dW[:, :, j] = np.einsum(\"not,nit->oi\", dy[:, :, shift:], x[:, :, shift:])"),
    "block_backward": ("        dx += dz\n", "        dx += dy\n"),
    "weight_norm_backward": ("dv = (g / norm) * (dW - dg * v / norm)", "dv = (g / norm) * dW"),
    "adam_step": ("m_hat = m / (1 - beta1 ** step)", "m_hat = m"),
    "spatial_dropout": ("keep = rng.random(x.shape[:2]) >= rate", "keep = rng.random(x.shape[:2]) >= 2 * rate"),
}


def _statuses(results):
    return {r.piece: r.status for r in results}


def test_the_solutions_pass_every_piece():
    results = exercises.check(BUILD / "solutions.py")
    assert [r.piece for r in results] == list(exercises.PIECES)
    failed = [str(r) for r in results if r.status != "passed"]
    assert not failed, "\n".join(failed)


def test_the_stubs_fail_as_stubs():
    statuses = _statuses(exercises.check(BUILD / "exercises.py"))
    assert statuses.pop("block_backward") == "waiting"  # it needs the convolutions, which are stubs
    assert set(statuses.values()) == {"not written"}, statuses


def test_the_stubs_and_the_solutions_have_the_same_functions():
    stubs, solutions = (exercises.load(BUILD / name) for name in ("exercises.py", "solutions.py"))
    for piece in exercises.PIECES:
        for name in exercises.FUNCTIONS.get(piece, (piece,)):
            assert callable(getattr(stubs, name)) and callable(getattr(solutions, name)), name


@pytest.mark.parametrize("piece", list(BUGS))
def test_a_bug_in_each_piece_is_caught_by_its_check(piece, tmp_path):
    line, bug = BUGS[piece]
    source = (BUILD / "solutions.py").read_text()
    assert source.count(line) == 1, f"the line to plant the bug in is not in solutions.py once: {line!r}"
    path = tmp_path / "planted.py"
    path.write_text(source.replace(line, bug))
    result = exercises.check(path, [piece])[0]
    assert result.status == "failed", str(result)
    assert "hint: " + exercises.HINTS[piece] in result.message


def test_a_block_waits_for_a_broken_convolution(tmp_path):
    line, bug = BUGS["conv_backward_input"]
    path = tmp_path / "planted.py"
    path.write_text((BUILD / "solutions.py").read_text().replace(line, bug))
    result = exercises.check(path, ["block_backward"])[0]
    assert result.status == "waiting" and "conv_backward_input" in result.message


def test_what_the_learners_code_raises_is_reported_not_raised(tmp_path):
    path = tmp_path / "raises.py"
    path.write_text("def adam_step(param, grad, m, v, step, lr):\n    return param[99], m, v\n")
    result = exercises.check(path, ["adam_step"])[0]
    assert result.status == "failed" and result.message.startswith("IndexError: ")
    assert exercises.check(path, ["conv_forward"])[0].status == "missing"


def test_a_wrong_return_is_named(tmp_path):
    path = tmp_path / "returns.py"
    path.write_text("def weight_norm_backward(dw, v, g):\n    return dw\n")
    result = exercises.check(path, ["weight_norm_backward"])[0]
    assert result.status == "failed" and "expected (dv, dg)" in result.message


@pytest.mark.parametrize("pieces, error", [("conv_forward", TypeError), (["conv"], ValueError)])
def test_bad_pieces_are_refused(pieces, error):
    with pytest.raises(error, match="pieces"):
        exercises.check(BUILD / "solutions.py", pieces)


@pytest.mark.parametrize("path, error", [(3, TypeError), ("no/such/file.py", ValueError),
                                         (str(BUILD), ValueError)])
def test_bad_paths_are_refused(path, error):
    with pytest.raises(error, match="path"):
        exercises.load(path)


def test_the_files_run_as_scripts():
    """`python tutorials/build/solutions.py adam_step` exits 0; the stubs exit 1; a wrong piece name, 2 with one
    line."""
    def run(name, *args):
        return subprocess.run([sys.executable, str(BUILD / name), *args], capture_output=True, text=True, cwd=ROOT)

    done = run("solutions.py", "adam_step", "spatial_dropout")
    assert done.returncode == 0 and "2 of 2 pieces pass" in done.stdout, done.stdout + done.stderr
    stubs = run("exercises.py", "adam_step")
    assert stubs.returncode == 1 and "NOT WRITTEN adam_step" in stubs.stdout, stubs.stdout + stubs.stderr
    wrong = run("exercises.py", "adam")
    assert wrong.returncode == 2 and wrong.stderr.strip().count("\n") == 0 and "'adam'" in wrong.stderr
