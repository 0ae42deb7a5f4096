"""The model's buffer pool (pytcn/pool.py): a pooled model computes exactly what a model allocating every array
anew computes, a released buffer is never read again, a training step allocates only the two arrays it hands back,
and the pool holds no more memory than fresh allocation needed at its peak."""
import weakref

import numpy as np
import pytest

import pytcn
from pytcn.backends import get_backend
from pytcn.pool import BufferPool, FreshAllocation

from .helpers import NUMBA_CUDA, one_numba_thread  # noqa: F401 (fixture)

BACKENDS = ["cpu", "numpy", pytest.param("cuda", marks=pytest.mark.skipif(
    not NUMBA_CUDA, reason="numba-cuda is not installed (pip install -e '.[test]')"))]


class FreshPool(FreshAllocation):
    """Fresh allocation (each array freed when nothing holds it any more, as before pools), counting the bytes of its
    arrays still alive (a view keeps its array alive) and their peak."""

    def __init__(self, backend):
        super().__init__(backend)
        self.live_bytes = self.peak_bytes = 0

    def empty(self, shape, dtype):
        a = super().empty(shape, dtype)
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        self.live_bytes += nbytes
        self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        weakref.finalize(_owner(a), self._dead, nbytes)
        return a

    def _dead(self, nbytes):
        self.live_bytes -= nbytes


def _owner(a):
    # the object whose life is the buffer's: a NumPy array, or the host array inside a simulated device array
    return getattr(a, "_ary", a)


ARCHITECTURES = [
    dict(),
    dict(use_skip_connections=False, nb_filters=[3, 4]),  # a downsample in every block
    dict(return_sequences=True, use_weight_norm=True),
    dict(nb_stacks=2, dropout_rate=0.3, use_weight_norm=True),
    dict(nb_stacks=2, dropout_rate=0.3, use_skip_connections=False, return_sequences=True),
]


def model(backend, pool=None, **arch):
    arch = {**dict(input_channels=2, outputs=3, nb_filters=4, kernel_size=2, dilations=[1, 2], dtype=np.float64,
                   seed=5, backend=backend), **arch}
    m = pytcn.TCN(**arch)
    if pool is not None:
        m.use_pool(pool(m.backend))
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
@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: "-".join(f"{k}={v}" for k, v in a.items()) or "default")
def test_a_pooled_model_computes_what_fresh_allocation_computes_and_reads_no_released_buffer(backend, arch):
    # released buffers are filled with NaN: a read after release would put NaN into a result
    pooled = train(model(backend, lambda be: BufferPool(be, poison=True), **arch), SHAPES)
    fresh = train(model(backend, FreshPool, **arch), SHAPES)
    for step, ((y, dx, grads), (y_ref, dx_ref, grads_ref)) in enumerate(zip(pooled, fresh)):
        np.testing.assert_array_equal(y, y_ref, err_msg=f"step {step}: prediction")
        np.testing.assert_array_equal(dx, dx_ref, err_msg=f"step {step}: input gradient")
        for name in grads_ref:
            np.testing.assert_array_equal(grads[name], grads_ref[name], err_msg=f"step {step}: {name}")


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: "-".join(f"{k}={v}" for k, v in a.items()) or "default")
def test_a_training_step_allocates_only_what_it_hands_back(arch):
    m = model("cpu", **arch)
    train(m, [(3, 9)])
    for steps in range(1, 4):
        before = m.pool.allocations
        train(m, [(3, 9)] * steps, seed=steps)
        # per step: the prediction of forward and the input gradient of backward, which leave the pool
        assert m.pool.allocations - before == 2 * steps


def peak_bytes(m, steps=3, N=4, T=32):
    """Training steps in which the caller keeps nothing; then the bytes m's pool holds, or, for a FreshPool, the
    most bytes that were alive at once."""
    rng = np.random.default_rng(0)
    for _ in range(steps):
        y = m.forward(rng.standard_normal((N, T, m.input_channels)), training=True)
        m.backward(rng.standard_normal(y.shape))
        del y
    return m.pool.peak_bytes if isinstance(m.pool, FreshPool) else m.pool.nbytes


# Blocks of one width. With several (nb_filters as a list) a buffer freed by one block cannot serve the next, as
# freed memory can under fresh allocation, and the pool holds more (README.md says how much).
SAME_WIDTH = [arch for arch in ARCHITECTURES if "nb_filters" not in arch]


@pytest.mark.parametrize("arch", SAME_WIDTH, ids=lambda a: "-".join(f"{k}={v}" for k, v in a.items()) or "default")
def test_the_pool_holds_about_what_fresh_allocation_held_at_its_peak(arch):
    arch = dict(arch, dilations=[1, 2, 4, 8])
    pooled, fresh = peak_bytes(model("cpu", **arch)), peak_bytes(model("cpu", FreshPool, **arch))
    # the pool sorts its buffers by size: at its peak, a size may be short of a buffer that another size has free
    assert pooled <= 1.05 * fresh, f"pool {pooled} bytes, fresh allocation's peak {fresh} bytes"


def test_a_new_batch_shape_drops_the_buffers_of_the_old_one():
    m = model("cpu")
    train(m, [(3, 9)])
    held = m.pool.nbytes
    train(m, [(2, 5), (3, 9), (2, 5), (3, 9)])
    assert m.pool.nbytes == held


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


def test_a_layer_on_its_own_allocates_its_outputs_anew():
    conv = pytcn.CausalConv1D(2, 3, 2, activation="relu", rng=np.random.default_rng(0), dtype=np.float64)
    rng = np.random.default_rng(1)
    y1 = conv.forward(rng.standard_normal((2, 2, 7)))
    kept = y1.copy()
    conv.forward(rng.standard_normal((2, 2, 7)))
    np.testing.assert_array_equal(y1, kept)


def same_memory(a, b):
    return a.ctypes.data == b.ctypes.data


def test_pool_hands_a_released_buffer_out_again_for_any_shape_of_its_size_and_dtype():
    pool = BufferPool(get_backend("cpu"))
    a = pool.empty((2, 3), np.float32)
    pool.release(a)
    assert not same_memory(pool.empty((2, 4), np.float32), a)  # another size
    assert not same_memory(pool.empty((2, 3), np.float64), a)  # another dtype
    b = pool.empty((3, 2), np.float32)  # the size and dtype of a: a's memory, in the shape asked for
    assert same_memory(b, a) and b.shape == (3, 2) and b.flags.c_contiguous
    assert pool.allocations == 3


def test_pool_ignores_what_is_not_its_buffer_in_use():
    pool = BufferPool(get_backend("cpu"))
    a = pool.empty((4,), np.float64)
    mine = np.zeros(4)
    pool.release(mine, a[1:], a.reshape(2, 2), None)  # the caller's array, views, None
    assert not same_memory(pool.empty((4,), np.float64), a)  # a is still in use
    pool.release(a)
    pool.release(a)  # a second release of the same buffer changes nothing
    assert same_memory(pool.empty((4,), np.float64), a)
    assert not same_memory(pool.empty((4,), np.float64), a)


def test_pool_poisons_released_buffers_and_forgets_detached_ones():
    pool = BufferPool(get_backend("cpu"), poison=True)
    a, b = pool.empty((3,), np.float64), pool.empty((3,), np.float64)
    a[...] = b[...] = 1.0
    pool.detach(b)
    pool.release_all()
    assert np.isnan(a).all() and (b == 1.0).all()
    with pytest.raises(ValueError, match=r"the array \(\(3,\), float64\) is not a buffer of this pool in use"):
        pool.detach(b)
    assert same_memory(pool.empty((3,), np.float64), a)
    assert not same_memory(pool.empty((3,), np.float64), b)


def test_pool_clear_drops_free_buffers_and_keeps_those_in_use():
    pool = BufferPool(get_backend("cpu"))
    a = pool.empty((5,), np.float32)
    pool.empty((5,), np.float32)  # a second buffer, left in use
    pool.release(a)
    assert pool.nbytes == 40
    pool.clear()
    assert pool.nbytes == 20
    assert not same_memory(pool.empty((5,), np.float32), a)


def test_two_models_cannot_share_a_pool():
    a, b = model("cpu"), model("cpu")
    with pytest.raises(ValueError, match="pool is already the pool of another model"):
        b.use_pool(a.pool)


def test_a_model_s_layers_called_on_their_own_allocate_afresh():
    m = model("cpu", dropout_rate=0.2)
    rng = np.random.default_rng(2)
    train(m, [(3, 9)])
    h = rng.standard_normal((3, 2, 9))
    out, branch = m.blocks[0].forward(h, training=True, rng=rng)
    kept = out.copy(), branch.copy()
    train(m, [(3, 9)] * 2, seed=3)
    np.testing.assert_array_equal(out, kept[0])
    np.testing.assert_array_equal(branch, kept[1])


@pytest.mark.parametrize("training", [False, True])
def test_backward_twice_after_one_forward_gives_the_same_gradients(training):
    m = model("cpu", dropout_rate=0.2)
    m.use_pool(BufferPool(m.backend, poison=True))
    rng = np.random.default_rng(4)
    y = m.forward(rng.standard_normal((3, 9, 2)), training=training)
    dy = rng.standard_normal(y.shape)
    dx1 = m.backward(dy)
    grads1 = {k: g.copy() for k, g in m.grads.items()}
    dx2 = m.backward(dy)
    np.testing.assert_array_equal(dx1, dx2)
    for name, g in m.grads.items():
        np.testing.assert_array_equal(g, grads1[name], err_msg=name)


def test_a_pool_of_another_backend_is_refused_by_name():
    m = model("cpu")
    with pytest.raises(ValueError, match="pool must be a pool of the model's backend 'cpu'"):
        m.use_pool(BufferPool(get_backend("numpy")))


def test_host_buffers_start_on_a_cache_line_at_staggered_page_offsets():
    pool = BufferPool(get_backend("cpu"))
    buffers = [pool.empty((64, 1024), dtype) for dtype in (np.float32, np.float64) for _ in range(4)]  # >= 256 KiB
    addresses = [a.ctypes.data for a in buffers]
    assert all(address % 64 == 0 for address in addresses), [address % 64 for address in addresses]
    assert len({address % 4096 for address in addresses}) == len(buffers)  # no two at one offset within a page
    assert all(a.flags.c_contiguous and a.shape == (64, 1024) for a in buffers)
