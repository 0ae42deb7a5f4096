"""Where a model's arrays come from (pytcn/runtime/memory.py): a model reusing its buffers computes exactly what a model
allocating every array anew computes, never reads a buffer whose arena was reset, allocates in a training step only
the two arrays it hands back, and holds about the memory fresh allocation needed at its peak. Layers keep no state
between forward and backward, and one model can be used from several threads."""
import ast
import dataclasses
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest

import pytcn
from pytcn.runtime.backends import get_backend
from pytcn.runtime.memory import Arena

from .helpers import NUMBA_CUDA, model_backend, one_numba_thread  # noqa: F401 (fixture)

BACKENDS = ["cpu", "numpy", pytest.param("cuda", marks=pytest.mark.skipif(
    not NUMBA_CUDA, reason="numba-cuda is not installed (pip install -e '.[test]')"))]


class Counting:
    """A host backend whose ``empty`` counts the bytes of its arrays still alive (a view keeps its array alive),
    and their peak: what a model allocating every array anew holds."""

    def __init__(self, name="cpu"):
        self.live_bytes = self.peak_bytes = self.allocations = 0
        self.backend = get_backend(name).replace(empty=self.empty)

    def empty(self, shape, dtype):
        a = np.empty(shape, dtype)
        self.allocations += 1
        self.live_bytes += a.nbytes
        self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        weakref.finalize(a, self._dead, a.nbytes)
        return a

    def _dead(self, nbytes):
        self.live_bytes -= nbytes


ARCHITECTURES = [
    dict(),
    dict(use_skip_connections=False, nb_filters=[3, 4]),  # a downsample in every block
    dict(return_sequences=True, use_weight_norm=True),
    dict(nb_stacks=2, dropout_rate=0.3, use_weight_norm=True),
    dict(nb_stacks=2, dropout_rate=0.3, use_skip_connections=False, return_sequences=True),
    dict(pooling="mean", use_weight_norm=True),  # the head reads the mean over the steps
]
arch_ids = pytest.mark.parametrize(
    "arch", ARCHITECTURES, ids=lambda a: "-".join(f"{k}={v}" for k, v in a.items()) or "default")


def model(backend, reuse=True, poison=False, **arch):
    arch = {**dict(input_channels=2, outputs=3, nb_filters=4, kernel_size=2, dilations=[1, 2], dtype=np.float64,
                   seed=5, backend=model_backend(backend)), **arch}
    m = pytcn.TCN(**arch)
    m.configure_memory(reuse=reuse, poison=poison)
    return m


def train(m, shapes, seed=0):
    """Training steps on random batches of the given (N, T): what each step returned and left in the gradients."""
    rng = np.random.default_rng(seed)
    adam = pytcn.Adam(m.params, lr=1e-2)
    seen = []
    for N, T in shapes:
        x = rng.standard_normal((N, T, m.input_channels))
        y = m.forward(x, training=True)
        dy = rng.standard_normal(tuple(y.shape))
        dx = m.backward(dy)
        # copies: on the host, to_numpy hands back the array itself, and the gradients are overwritten by each step
        seen.append((np.array(pytcn.to_numpy(y)), np.array(pytcn.to_numpy(dx)),
                     {k: np.array(pytcn.to_numpy(g)) for k, g in m.grads.items()}))
        adam.step(m.grads)
    return seen


SHAPES = [(3, 9), (3, 9), (2, 5), (3, 9), (3, 9)]  # a change of batch shape and back


@pytest.mark.parametrize("backend", BACKENDS)
@arch_ids
def test_a_model_reusing_buffers_computes_what_fresh_allocation_computes_and_reads_no_dead_buffer(backend, arch):
    # every buffer is filled with NaN when its arena is reset: a read after that would put NaN into a result
    reused = train(model(backend, poison=True, **arch), SHAPES)
    fresh = train(model(backend, reuse=False, **arch), SHAPES)
    for step, ((y, dx, grads), (y_ref, dx_ref, grads_ref)) in enumerate(zip(reused, fresh)):
        np.testing.assert_array_equal(y, y_ref, err_msg=f"step {step}: prediction")
        np.testing.assert_array_equal(dx, dx_ref, err_msg=f"step {step}: input gradient")
        for name in grads_ref:
            np.testing.assert_array_equal(grads[name], grads_ref[name], err_msg=f"step {step}: {name}")


@arch_ids
def test_a_training_step_allocates_only_what_it_hands_back(arch):
    counting = Counting()
    m = model(counting.backend, **arch)
    adam = pytcn.Adam(m.params, lr=1e-2)
    rng = np.random.default_rng(0)

    def step():
        y = m.forward(rng.standard_normal((3, 9, 2)), training=True)
        m.backward(rng.standard_normal(y.shape))
        adam.step(m.grads)

    step()
    held = m.workspace().allocations
    for steps in range(1, 4):
        before = counting.allocations
        for _ in range(steps):
            step()
        # per step: the prediction of forward and the input gradient of backward, which are the caller's
        assert counting.allocations - before == 2 * steps
    assert m.workspace().allocations == held


def peak_bytes(arch, reuse, steps=3, N=4, T=32):
    """Training steps in which the caller keeps nothing; then the bytes the model's arenas hold, or without reuse
    the most bytes alive at once."""
    counting = Counting()
    m = model(counting.backend, reuse=reuse, **arch)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        y = m.forward(rng.standard_normal((N, T, m.input_channels)), training=True)
        m.backward(rng.standard_normal(y.shape))
        del y
    return m.workspace().nbytes if reuse else counting.peak_bytes


# Blocks of one width. With several (nb_filters as a list) a buffer made for one block cannot serve another, as freed
# memory can under fresh allocation, and the arenas hold more.
SAME_WIDTH = [arch for arch in ARCHITECTURES if "nb_filters" not in arch]
# The arenas hold what a pass made in its forward until the next one, the arrays no backward reads included (a
# dropout's output once the next layer has read it, the sum of the skip connections), and a whole block's
# temporaries in the backward, where fresh allocation frees each array as soon as nothing reads it. Measured on
# these models: 1.07-1.26x with four dilations, 1.03-1.23x with eight (README.md).
MEMORY_BOUND = 1.3


@pytest.mark.parametrize("arch", SAME_WIDTH, ids=lambda a: "-".join(f"{k}={v}" for k, v in a.items()) or "default")
def test_the_arenas_hold_about_what_fresh_allocation_held_at_its_peak(arch):
    arch = dict(arch, dilations=[1, 2, 4, 8])
    reused, fresh = peak_bytes(arch, True), peak_bytes(arch, False)
    assert reused <= MEMORY_BOUND * fresh, f"arenas {reused} bytes, fresh allocation's peak {fresh} bytes"


def test_a_new_batch_shape_drops_the_buffers_of_the_old_one():
    m = model("cpu")
    train(m, [(3, 9)])
    held = m.workspace().nbytes
    train(m, [(2, 5), (3, 9), (2, 5), (3, 9)])
    assert m.workspace().nbytes == held


def test_what_a_model_returns_is_the_caller_s_to_keep():
    m = model("cpu", dropout_rate=0.2)
    rng = np.random.default_rng(1)
    y1 = m.forward(rng.standard_normal((3, 9, 2)), training=True)
    dx1 = m.backward(rng.standard_normal(y1.shape))
    kept = y1.copy(), dx1.copy()
    y2 = m.forward(rng.standard_normal((3, 9, 2)), training=True)
    m.backward(rng.standard_normal(y2.shape))
    np.testing.assert_array_equal(y1, kept[0])
    np.testing.assert_array_equal(dx1, kept[1])


def test_a_layer_keeps_no_state_between_forward_and_backward():
    """Two forwards, then the backward of the first: its cache alone decides what comes back."""
    rng = np.random.default_rng(1)
    block = pytcn.ResidualBlock(2, 3, 2, 2, dropout_rate=0.3, use_weight_norm=True, rng=rng, dtype=np.float64)
    x1, x2 = rng.standard_normal((2, 2, 2, 7))
    dout, dbranch = rng.standard_normal((2, 2, 3, 7))
    (_, _), cache1 = block.forward(x1, training=True, rng=np.random.default_rng(3))
    expected = block.backward(dout, cache1, dbranch)
    (_, _), cache1 = block.forward(x1, training=True, rng=np.random.default_rng(3))
    block.forward(x2, training=True, rng=np.random.default_rng(4))
    dx, grads = block.backward(dout, cache1, dbranch)
    np.testing.assert_array_equal(dx, expected[0])
    for name, g in expected[1].items():
        np.testing.assert_array_equal(grads[name], g, err_msg=name)


def test_a_model_s_layers_called_on_their_own_allocate_afresh():
    m = model("cpu", dropout_rate=0.2)
    rng = np.random.default_rng(2)
    train(m, [(3, 9)])
    h = rng.standard_normal((3, 2, 9))
    (out, branch), _ = m.blocks[0].forward(h, training=True, rng=rng)
    kept = out.copy(), branch.copy()
    train(m, [(3, 9)] * 2, seed=3)
    np.testing.assert_array_equal(out, kept[0])
    np.testing.assert_array_equal(branch, kept[1])


@pytest.mark.parametrize("training", [False, True])
def test_backward_twice_after_one_forward_gives_the_same_gradients(training):
    m = model("cpu", poison=True, dropout_rate=0.2)
    rng = np.random.default_rng(4)
    y = m.forward(rng.standard_normal((3, 9, 2)), training=training)
    dy = rng.standard_normal(y.shape)
    dx1 = m.backward(dy)
    grads1 = {k: g.copy() for k, g in m.grads.items()}
    dx2 = m.backward(dy)
    np.testing.assert_array_equal(dx1, dx2)
    for name, g in m.grads.items():
        np.testing.assert_array_equal(g, grads1[name], err_msg=name)


def test_one_model_from_several_threads_gives_what_it_gives_from_one():
    m = model("cpu", nb_filters=6, dilations=[1, 2, 4])
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal((3, 17, 2)) for _ in range(8)]
    expected = [m.forward(x) for x in inputs]
    results, errors = {}, []

    def work(k):
        try:
            for _ in range(15):
                for j in range(k, len(inputs), 4):
                    y = m.forward(inputs[j])
                    results.setdefault(j, []).append(y)
        except Exception as e:  # noqa: BLE001 (collected and reported below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for j, ys in results.items():
        for y in ys:
            np.testing.assert_array_equal(y, expected[j])


def test_a_thread_s_backward_goes_back_through_its_own_forward():
    m = model("cpu", dropout_rate=0.0)
    rng = np.random.default_rng(6)
    x1, x2 = rng.standard_normal((2, 3, 9, 2))
    dy = rng.standard_normal((3, 3))
    m.forward(x1)
    expected = m.backward(dy)
    m.forward(x1)  # this thread's pass
    other = threading.Thread(target=m.forward, args=(x2,))  # another thread's forward, in between
    other.start()
    other.join()
    np.testing.assert_array_equal(m.backward(dy), expected)
    behind = []
    other = threading.Thread(target=lambda: behind.append(pytest.raises(RuntimeError, m.backward, dy)))
    other.start()
    other.join()
    assert "before forward (in this thread)" in str(behind[0].value)


def same_memory(a, b):
    return a.ctypes.data == b.ctypes.data


def test_an_arena_hands_a_buffer_out_again_after_reset_for_any_shape_of_its_size_and_dtype():
    arena = Arena(get_backend("cpu"))
    a, b = arena.empty((2, 3), np.float32), arena.empty((2, 3), np.float32)
    assert not same_memory(a, b)  # a is in use until the reset
    arena.reset()
    for other in (arena.empty((2, 4), np.float32), arena.empty((2, 3), np.float64)):  # another size, another dtype
        assert not same_memory(other, a) and not same_memory(other, b)
    c = arena.empty((3, 2), np.float32)  # the size and dtype of a and b: the memory of one, in the shape asked for
    assert (same_memory(c, a) or same_memory(c, b)) and c.shape == (3, 2) and c.flags.c_contiguous
    assert arena.allocations == 4


def test_an_arena_poisons_what_it_takes_back_and_clear_drops_everything():
    arena = Arena(get_backend("cpu"), poison=True)
    a = arena.empty((3,), np.float64)
    a[...] = 1.0
    with arena.use():  # reset first
        assert np.isnan(a).all()
        assert same_memory(pytcn.runtime.memory.empty(get_backend("cpu"), (3,), np.float64), a)
    assert arena.nbytes == 24
    arena.clear()
    assert arena.nbytes == 0
    assert not same_memory(arena.empty((3,), np.float64), a)


def test_an_array_of_another_backend_inside_a_pass_is_refused():
    with Arena(get_backend("cpu")).use():
        with pytest.raises(RuntimeError, match="backend 'numpy' was asked for while an arena of backend 'cpu'"):
            pytcn.runtime.memory.empty(get_backend("numpy"), (2,), np.float64)


def test_host_buffers_start_on_a_cache_line_at_staggered_page_offsets():
    arena = Arena(get_backend("cpu"))
    buffers = [arena.empty((64, 1024), dtype) for dtype in (np.float32, np.float64) for _ in range(4)]  # >= 256 KiB
    addresses = [a.ctypes.data for a in buffers]
    assert all(address % 64 == 0 for address in addresses), [address % 64 for address in addresses]
    assert len({address % 4096 for address in addresses}) == len(buffers)  # no two at one offset within a page
    assert all(a.flags.c_contiguous and a.shape == (64, 1024) for a in buffers)


PYTCN = Path(pytcn.__file__).parent


# Memory is owned in one place (STYLE.md, convention 11): pytcn/runtime/memory.py says where arrays come from, and
# pytcn/runtime/passes.py, through the model's ``self.passes``, when arenas reset, which lock a pass holds and whose
# workspace it is. The layers and the block read as maths; the model reads as the chain rule.
THREADS_AND_CONTEXTS = ("threading", "contextlib", "contextvars")


@dataclasses.dataclass(frozen=True)
class Bookkeeping:
    """What a module of pytcn/nn may say about memory. memory_names: the names it may import from
    pytcn.runtime.memory (None: any, but not the module itself); passes: whether it may import from
    pytcn.runtime.passes; banned: names and attributes it may not use (nor import, nor take as an argument);
    allowed: (name, attribute) pairs exempt from ``banned``."""

    memory_names: frozenset = None
    passes: bool = False
    banned: frozenset = frozenset()
    allowed: frozenset = frozenset()


# a layer or the block: empty and zeros, as np.empty and np.zeros, and nothing about arenas, passes or threads
LAYERS_RULES = Bookkeeping(
    memory_names=frozenset({"empty", "zeros"}),
    banned=frozenset({"reset", "clear", "use", "afresh", "Arena", "Workspace", "workspace", "passes", "new_pass",
                      "arena", "lock", "last_pass"}))
# the model: arenas, locks and workspaces through self.passes (self.passes.forward(x), self.passes.block_backward(...))
MODEL_RULES = Bookkeeping(
    passes=True,
    banned=frozenset({"reset", "clear", "use", "new_pass", "last_pass", "lock", "Arena", "Workspace"}),
    allowed=frozenset({("streaming", "reset")}))  # streaming.reset starts a stream's sequences afresh: no arena


def bookkeeping(source, rules, package="pytcn.nn"):
    """Where ``source`` (a module of ``package``) keeps memory's books itself, against ``rules``: a list of
    (line, what), empty when it does not."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in THREADS_AND_CONTEXTS:
                    found.append((node.lineno, f"imports {alias.name}"))
                if alias.name in ("pytcn.runtime.memory", "pytcn.runtime.passes"):
                    found.append((node.lineno, f"imports the module {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            home = package.split(".")
            module = ".".join(home[:len(home) - node.level + 1] + [node.module or ""]).strip(".") if node.level \
                else node.module
            names = [alias.name for alias in node.names]
            if module.split(".")[0] in THREADS_AND_CONTEXTS:
                found.append((node.lineno, f"imports {', '.join(names)} from {module}"))
            for name in names:
                if module == "pytcn.runtime" and name in ("memory", "passes"):
                    found.append((node.lineno, f"imports the module pytcn.runtime.{name}"))
                elif module == "pytcn.runtime.memory" and rules.memory_names is not None and \
                        name not in rules.memory_names:
                    found.append((node.lineno, f"imports {name} from pytcn.runtime.memory (only "
                                               f"{', '.join(sorted(rules.memory_names))})"))
                elif module == "pytcn.runtime.passes" and not rules.passes:
                    found.append((node.lineno, f"imports {name} from pytcn.runtime.passes"))
                elif name in rules.banned:
                    found.append((node.lineno, f"imports {name} from {module}"))
        elif isinstance(node, ast.Attribute) and node.attr in rules.banned:
            base = node.value.id if isinstance(node.value, ast.Name) else None
            if (base, node.attr) not in rules.allowed:
                found.append((node.lineno, f"uses the attribute {ast.unparse(node)}"))
        elif isinstance(node, ast.Name) and node.id in rules.banned:
            found.append((node.lineno, f"uses the name {node.id}"))
        elif isinstance(node, (ast.arg, ast.keyword)) and node.arg in rules.banned:
            found.append((node.lineno, f"takes or passes an argument {node.arg}"))
    return sorted(set(found))


RULES = {"nn/layers.py": LAYERS_RULES, "nn/block.py": LAYERS_RULES, "nn/model.py": MODEL_RULES}


@pytest.mark.parametrize("module", RULES)
def test_memory_bookkeeping_stays_out_of_the_layers_and_goes_through_the_model_s_passes(module):
    found = bookkeeping((PYTCN / module).read_text(), RULES[module])
    assert not found, "\n".join(f"pytcn/{module}:{line}: {what}" for line, what in found)


def planted(module, line, method="forward"):
    """The source of ``module`` with ``line`` put at the start of the body of its first ``def {method}(``; the
    line's number."""
    lines = (PYTCN / module).read_text().splitlines()
    at = next(k for k, text in enumerate(lines) if text.lstrip().startswith(f"def {method}("))
    while not lines[at].rstrip().endswith(":"):  # a signature over several lines
        at += 1
    indent = " " * (len(lines[at]) - len(lines[at].lstrip()) + 4)
    lines.insert(at + 1, indent + line)
    return "\n".join(lines) + "\n", at + 2


# (module, the planted line, what the checker says of it)
PLANTED = [
    ("nn/layers.py", "ws.scratch.reset()", "uses the attribute ws.scratch.reset"),
    ("nn/layers.py", "from ..runtime.memory import Arena", "imports Arena from pytcn.runtime.memory (only empty"),
    ("nn/layers.py", "from ..runtime.memory import afresh", "imports afresh from pytcn.runtime.memory"),
    ("nn/layers.py", "from ..runtime import memory", "imports the module pytcn.runtime.memory"),
    ("nn/layers.py", "from ..runtime.passes import Passes", "imports Passes from pytcn.runtime.passes"),
    ("nn/layers.py", "arena = None", "uses the name arena"),
    ("nn/layers.py", "y = empty(self.backend, x.shape, x.dtype, workspace=self.ws)",
     "takes or passes an argument workspace"),
    ("nn/block.py", "import threading", "imports threading"),
    ("nn/block.py", "from contextlib import nullcontext", "imports nullcontext from contextlib"),
    ("nn/block.py", "import contextvars", "imports contextvars"),
    ("nn/block.py", "self.passes.block_backward(None)", "uses the attribute self.passes"),
    ("nn/block.py", "self.cache_pool.clear()", "uses the attribute self.cache_pool.clear"),
    ("nn/model.py", "import threading", "imports threading"),
    ("nn/model.py", "from ..runtime.memory import Workspace", "imports Workspace from pytcn.runtime.memory"),
    ("nn/model.py", "ws = self.passes.workspace().new_pass(x.shape)",
     "uses the attribute self.passes.workspace().new_pass"),
    ("nn/model.py", "self.passes.lock.acquire()", "uses the attribute self.passes.lock"),
    ("nn/model.py", "self.workspace().activations.use()", "uses the attribute self.workspace().activations.use"),
]


@pytest.mark.parametrize("module, line, said", PLANTED, ids=[f"{m}:{line}" for m, line, _ in PLANTED])
def test_bookkeeping_planted_in_a_layer_the_block_or_the_model_is_reported(module, line, said):
    source, number = planted(module, line)
    # what the file itself says (nothing, once the test above passes), its lines after the planted one moved down
    real = {(n + (n >= number), what) for n, what in bookkeeping((PYTCN / module).read_text(), RULES[module])}
    found = [(n, what) for n, what in bookkeeping(source, RULES[module]) if (n, what) not in real]
    assert found and all(n == number for n, _ in found), found
    assert any(said in what for _, what in found), found
