"""Plant one bug at a time in every path of the convolution kernels and check that the kernel tests catch it.

    python tests/plant_bugs.py            # every bug (about 10 minutes on 2 cores)
    python tests/plant_bugs.py 3 17       # bugs 3 and 17 only (their numbers: their places in MUTANTS, from 0)
    python tests/plant_bugs.py --help     # this text

Not part of the suite (pytest does not collect this file): it checks the suite itself, and belongs beside any change
to a kernel's blocking, chunking or leftover branches, with a bug added here for every new path. Each bug is a
one-line edit of one function of kernels/conv.py (or of the file named with it), made in a copy of the checkout
(the working tree is never touched); tests/test_kernels.py and tests/test_streaming.py then run on the copy with an
empty Numba cache (for kernels/cuda/, the fast-kernel tests of tests/test_cuda.py, 10-60 s per bug; for
pytcn/nn/layers.py, whose functions are methods named by their class, tests/test_dropout.py); a bug may name the
pytest arguments that must catch it as a fifth entry, (file, function, line, bug, arguments). It prints CAUGHT or
MISSED per bug and exits 1 if any was missed.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# the model with pooling='mean' against its hand computations (on the CPU backends), and its gradients
MODEL_MEAN_TESTS = ["tests/test_options.py", "tests/test_gradients.py", "tests/test_model.py",
                    "-k", "mean and not cuda"]

# the recurrent kernels (kernels/gru.py, kernels/lstm.py, kernels/rowblocks.py) against their NumPy references, on
# one thread and two, in one chunk and two
RECURRENT_KERNEL_TESTS = ["tests/test_recurrent.py", "-k", "kernel"]

# (function of kernels/conv.py, a line of it, the line with the bug), or (file, function, line, bug), or (file,
# function, line, bug, the pytest arguments that must catch it)
MUTANTS = [
    ("_four_rows_forward",
     "y3s[t] += w30 * v0 + w31 * v1 + w32 * v2 + w33 * v3",
     "y3s[t] += w30 * v0 + w31 * v1 + w32 * v2 + w32 * v3"),
    ("_four_rows_forward",
     "add_tap_forward(y2, xn[i], W[o + 2, i, j], s, stop)",
     "add_tap_forward(y2, xn[i], W[o + 1, i, j], s, stop)"),
    ("_four_rows_forward",
     "add_tap_forward(y3, xn[i], W[o + 3, i, j], s, T)",
     "add_tap_forward(y3, xn[i], W[o + 3, i, j], s, T - 1)"),
    ("_two_rows_forward",
     "y1s[t] += w10 * v0 + w11 * v1 + w12 * v2 + w13 * v3",
     "y1s[t] += w10 * v0 + w11 * v1 + w12 * v2 + w12 * v3"),
    ("_two_rows_forward",
     "add_tap_forward(y1, xn[i], W[o + 1, i, j], s, min(start, T))",
     "add_tap_forward(y1, xn[i], W[o, i, j], s, min(start, T))"),
    ("_two_rows_forward",
     "add_tap_forward(y1, xn[i], W[o + 1, i, j], s, T)",
     "add_tap_forward(y1, xn[i], W[o, i, j], s, T)"),
    ("_row_forward",
     "y0s[t] += w00 * x0[t] + w01 * x1[t] + w02 * x2[t] + w03 * x3[t]",
     "y0s[t] += w00 * x0[t] + w01 * x1[t] + w02 * x2[t] + w02 * x3[t]"),
    ("_row_forward",
     "add_tap_forward(y0, xn[i], W[o, i, j], s, min(start, T))",
     "add_tap_forward(y0, xn[i], W[o, i, j], s, min(start, T) - 1)"),
    ("_row_forward",
     "add_tap_forward(y0, xn[i], W[o, i, j], s, T)",
     "add_tap_forward(y0, xn[i], W[o, i, j], s, T - 1)"),
    ("_conv_forward_blocked",
     "row_forward(y[n, o + rows - 1], x[n], W, o + rows - 1, pairs)",
     "row_forward(y[n, o + rows - 1], x[n], W, o, pairs)"),
    ("_conv_forward_blocked",
     "relu_row(y[n, r])",
     "pass"),
    ("_four_rows_backward_input",
     "dx3[u] += w30 * g0 + w31 * g1 + w32 * g2 + w33 * g3",
     "dx3[u] += w30 * g0 + w31 * g1 + w32 * g2 + w32 * g3"),
    ("_four_rows_backward_input",
     "add_tap_backward(dx2, dyn[o], W[o, i + 2, j], s, start)",
     "add_tap_backward(dx2, dyn[o], W[o, i + 1, j], s, start)"),
    ("_four_rows_backward_input",
     "add_tap_backward(dx3, dyn[o], W[o, i + 3, j], s, 0)",
     "add_tap_backward(dx3, dyn[o], W[o, i + 3, j], s, 1)"),
    ("_row_backward_input",
     "dx0[u] += w00 * dy0[u] + w01 * dy1[u] + w02 * dy2[u] + w03 * dy3[u]",
     "dx0[u] += w00 * dy0[u] + w01 * dy1[u] + w02 * dy2[u] + w02 * dy3[u]"),
    ("_row_backward_input",
     "add_tap_backward(dx0, dyn[o], W[o, i, j], s, max(T - s_max, 0))",
     "add_tap_backward(dx0, dyn[o], W[o, i, j], s, max(T - s_max, 0) + 1)"),
    ("_row_backward_input",
     "add_tap_backward(dx0, dyn[o], W[o, i, j], s, 0)",
     "add_tap_backward(dx0, dyn[o], W[o, i, j], s, 1)"),
    ("_conv_backward_weight",
     "dw33 += g * v3",
     "dw33 += g * v2"),
    ("_conv_backward_weight",
     "partial[c, r, k, j] += acc",
     "partial[c, r, k, j] += 2 * acc"),
    ("_conv_backward_weight",
     "for n in range(c * per_chunk, min(N, (c + 1) * per_chunk)):",
     "for n in range(c * per_chunk, min(N, c * per_chunk + 1)):"),
    ("_conv_backward_weight",
     "for c in range(1, chunks):",
     "for c in range(1, chunks - 1):"),
    ("_conv_forward_naive_then",
     "add_tap_forward(yrow, x[n, i], W[o, i, j], (K - 1 - j) * d, T)",
     "add_tap_forward(yrow, x[n, i], W[o, i, j], (K - 1 - j) * d, T - 1)"),
    ("_conv_forward_naive_then",
     "relu_row(yrow)",
     "pass"),
    ("_conv_backward_input_naive",
     "add_tap_backward(dxrow, dy[n, o], W[o, i, j], (K - 1 - j) * d, 0)",
     "add_tap_backward(dxrow, dy[n, o], W[o, i, j], (K - 1 - j) * d, 1)"),
    ("_conv_backward_weight_naive",
     "acc += dys[t] * xs[t]",
     "acc += dys[t] * xs[t] * 1.001"),
    ("kernels/stream.py", "_conv_step",
     "row = x[n] if age == 0 else history[n, (t - age) % L]",
     "row = x[n] if age == 0 else history[n, (t - age + 1) % L]"),
    ("kernels/stream.py", "_conv_step",
     "slot = t % L",
     "slot = (t + 1) % L"),
    ("kernels/stream.py", "_conv_step",
     "y[n, o] = 0.0 if relu and acc <= 0 else acc",
     "y[n, o] = acc"),
    ("kernels/rmsprop.py", "_rmsprop_update",
     "pf[k] -= lr * mf[k]",
     "pf[k] -= lr * u"),
    ("kernels/rmsprop.py", "_rmsprop_update",
     "vf[k] = alpha * vf[k] + (1 - alpha) * g * g",
     "vf[k] = alpha * vf[k] + (1 - alpha) * g"),
    ("kernels/rmsprop.py", "_rmsprop_update",
     "pf[k] -= lr * u",
     "pf[k] -= lr * g"),
    ("kernels/norm.py", "_layer_norm_backward",
     "dx[n, c, t] = r * (dy[n, c, t] * gamma[c] - mean_dxhat - xhat * mean_dxhat_xhat)",
     "dx[n, c, t] = r * (dy[n, c, t] * gamma[c] - mean_dxhat)"),
    ("kernels/norm.py", "_batch_norm_backward",
     "mean_dy = sum_dy / M if batch_statistics else 0.0",
     "mean_dy = sum_dy / M"),
    ("kernels/norm.py", "_batch_norm_statistics",
     "var[c] = acc / M",
     "var[c] = acc / (M - 1 + 1e-9)"),
    # the fast CUDA kernels (kernels/cuda/tiled.py, and the head's gradients through them in kernels/cuda/linear.py),
    # checked by tests/test_cuda.py in the simulator (and the PTX compiler)
    ("kernels/cuda/tiled.py", "tap_gemm",
     'if q < Q and p < P:  # past the last channel: zeros, which add nothing',
     'if q < Q:  # past the last channel: zeros, which add nothing'),
    ("kernels/cuda/tiled.py", "tap_gemm",
     'w = W[q, p, j] if transposed else W[p, q, j]',
     'w = W[p, q, j] if transposed else W[p, q, j]'),
    ("kernels/cuda/tiled.py", "tap_gemm",
     'if q < Q and 0 <= s < T:',
     'if q < Q and s < T:'),
    ("kernels/cuda/tiled.py", "tap_gemm",
     'if q < Q and 0 <= s < T:',
     'if q < Q and 0 <= s:'),
    ("kernels/cuda/tiled.py", "tap_gemm",
     'acc[a, c] += w * window[q, col + c * COLS]',
     'acc[a, c] += w * window[q, col + c]'),
    ("kernels/cuda/tiled.py", "tap_gemm",
     'w = weights[q, row + a * ROWS]',
     'w = weights[q, row + a]'),
    ("kernels/cuda/tiled.py", "tap_gemm",
     'for q0 in range(0, Q, DEPTH):',
     'for q0 in range(0, DEPTH, DEPTH):'),
    ("kernels/cuda/tiled.py", "tap_gemm",
     'for e in range(me, DEPTH * T_TILE, THREADS):',
     'for e in range(me, DEPTH * T_TILE - 1, THREADS):'),
    ("kernels/cuda/tiled.py", "tap_gemm",
     'for e in range(me, DEPTH * P_TILE, THREADS):',
     'for e in range(me + 1, DEPTH * P_TILE, THREADS):'),
    ("kernels/cuda/tiled.py", "tap_gemm",
     'if p < P and t < T:',
     'if p < P and t < T - 1:'),
    ("kernels/cuda/tiled.py", "tap_gemm",
     'out[n, p, t] = zero if relu and v <= 0 else v',
     'out[n, p, t] = v'),
    ("kernels/cuda/tiled.py", "tap_gemm",
     'v += b[p]',
     'v += b[0]'),
    ("kernels/cuda/tiled.py", "weight_gradient",
     'if o < C_out and r < r_end:',
     'if r < r_end:'),
    ("kernels/cuda/tiled.py", "weight_gradient",
     's = r % T - (K - 1 - c % K) * d',
     's = r % T - (K - 1 - c // K) * d'),
    ("kernels/cuda/tiled.py", "weight_gradient",
     'if s >= 0:  # earlier steps read the causal zeros',
     'if s >= -1:  # earlier steps read the causal zeros'),
    ("kernels/cuda/tiled.py", "weight_gradient",
     'partial[cuda.blockIdx.z, o, column] = acc[a, c]',
     'partial[0, o, column] = acc[a, c]'),
    ("kernels/cuda/tiled.py", "weight_gradient",
     'g = dy_terms[row + a * ROWS, k]',
     'g = dy_terms[row, k]'),
    ("kernels/cuda/tiled.py", "weight_gradient",
     'acc[a, c] += g * x_terms[col + c * COLS, k]',
     'acc[a, c] += g * x_terms[col, k]'),
    ("kernels/cuda/tiled.py", "weight_gradient",
     'for e in range(me, C_TILE * DEPTH, THREADS):',
     'for e in range(me, C_TILE * DEPTH - 1, THREADS):'),
    ("kernels/cuda/tiled.py", "weight_gradient",
     'dy_terms = cuda.shared.array((O_TILE, PADDED), dy.dtype)',
     'dy_terms = cuda.shared.array((O_TILE, DEPTH + 1), dy.dtype)'),
    ("kernels/cuda/tiled.py", "_chunk_sum_kernel",
     'for p in range(partial.shape[0]):',
     'for p in range(partial.shape[0] - 1):'),
    ("kernels/cuda/tiled.py", "conv_backward_weight_cuda",
     'chunks = math.ceil(N * T / chunk)',
     'chunks = max(1, N * T // chunk)'),
    ("kernels/cuda/tiled.py", "bias_gradient",
     'for r in range(me, N * T, threads):',
     'for r in range(me, N * T - 1, threads):'),
    ("kernels/cuda/tiled.py", "bias_gradient",
     'width = threads // 2',
     'width = threads // 4'),
    ("kernels/cuda/tiled.py", "weight_gradient_chunk",
     'return math.ceil(stages / chunks) * depth',
     'return max(1, stages // chunks) * depth'),
    ("kernels/cuda/linear.py", "linear_backward_cuda",
     'conv_backward_bias_cuda(db, dy.reshape(M, O, 1), threads=threads)',
     'conv_backward_bias_cuda(db, dy.reshape(M, O, 1)[:1], threads=threads)'),
    # the layers (pytcn/nn/layers.py), checked by tests/test_dropout.py: inverted dropout's scale, which once passed
    # every test but the site's and the CUDA ones
    ("pytcn/nn/layers.py", "_InvertedDropout.forward",
     "keep / (1.0 - self.rate)",
     "keep / (1.0 + self.rate)"),
    # the head's mean over each sequence's steps (pooling='mean'): mean_steps and spread_steps, in NumPy and CUDA, and
    # the model's use of them, each wrong in one path only: a sequence shorter than T (lengths), or one of all T steps
    ("kernels/arrays.py", "mean_steps_numpy",
     "out[...] = x.sum(axis=2, where=own[:, None, :]) / lengths[:, None]  # N, C",
     "out[...] = x.sum(axis=2, where=own[:, None, :]) / T  # N, C",
     ["tests/test_kernels.py", "-k", "steps"]),
    ("kernels/arrays.py", "mean_steps_numpy",
     "own = np.arange(T) < lengths[:, None]",
     "own = np.arange(T) < np.minimum(lengths, T - 1)[:, None]",
     ["tests/test_kernels.py", "-k", "steps"]),
    ("kernels/arrays.py", "spread_steps_numpy",
     "np.multiply((dout / lengths[:, None])",
     "np.multiply((dout / T)",
     ["tests/test_kernels.py", "-k", "steps"]),
    ("kernels/arrays.py", "spread_steps_numpy",
     "own = np.arange(T) < lengths[:, None]",
     "own = np.arange(T) < np.minimum(lengths, T - 1)[:, None]",
     ["tests/test_kernels.py", "-k", "steps"]),
    ("kernels/cuda/arrays.py", "_mean_steps_kernel",
     "out[n, c] = acc / L",
     "out[n, c] = acc / x.shape[2]",
     ["tests/test_cuda.py", "-k", "plumbing and steps"]),
    ("kernels/cuda/arrays.py", "_mean_steps_kernel",
     "for t in range(1, L):",
     "for t in range(1, min(L, x.shape[2] - 1)):",
     ["tests/test_cuda.py", "-k", "plumbing and steps"]),
    ("kernels/cuda/arrays.py", "_spread_steps_kernel",
     "dx[n, c, t] = dout[n, c] / lengths[n] if t < lengths[n] else 0.0",
     "dx[n, c, t] = dout[n, c] / T if t < lengths[n] else 0.0",
     ["tests/test_cuda.py", "-k", "plumbing and steps"]),
    ("kernels/cuda/arrays.py", "_spread_steps_kernel",
     "dx[n, c, t] = dout[n, c] / lengths[n] if t < lengths[n] else 0.0",
     "dx[n, c, t] = dout[n, c] / lengths[n] if t < min(lengths[n], T - 1) else 0.0",
     ["tests/test_cuda.py", "-k", "plumbing and steps"]),
    ("pytcn/nn/model.py", "TCN._head_lengths",
     "return self.backend.to_device(lengths)",
     "return self.backend.to_device(np.full(N, T, np.int64))",
     MODEL_MEAN_TESTS),
    ("pytcn/nn/model.py", "TCN._head_lengths",
     'return self.passes.device_constant("head lengths", lambda: np.full(N, T, np.int64))',
     'return self.passes.device_constant("head lengths", lambda: np.full(N, T - 1, np.int64))',
     MODEL_MEAN_TESTS),
    ("pytcn/nn/model.py", "TCN._head_input_backward",
     "be.spread_steps(dfeatures, drows, reads)",
     'be.spread_steps(dfeatures, drows, self.passes.device_constant("head lengths", lambda: np.full(N, T, np.int64)))',
     MODEL_MEAN_TESTS),
    # ... and on 'cuda' the lengths of a full batch are copied to the GPU once per batch shape, not at every pass
    ("pytcn/nn/model.py", "TCN._head_lengths",
     'return self.passes.device_constant("head lengths", lambda: np.full(N, T, np.int64))',
     "return self.backend.to_device(np.full(N, T, np.int64))",
     ["tests/test_cuda.py", "-k", "copies_the_batch"]),
    # the GRU's and LSTM's fast kernels: a gate's rows, the last group's row count, a chunk's last group, the
    # gradient carried back through time and its reset between groups, the rows past a short group, the sum over
    # chunks; and each lane of the four-row helpers
    ("kernels/gru.py", "_gru_forward",
     "z = one / (one + np.exp(-(gx[r, H + u] + gh[r, H + u])))",
     "z = one / (one + np.exp(-(gx[r, H + u] + gh[r, u])))",
     RECURRENT_KERNEL_TESTS),
    ("kernels/gru.py", "_gru_forward",
     "rows = min(4, N - first)",
     "rows = min(4, max(1, N - first - 1))",
     RECURRENT_KERNEL_TESTS),
    ("kernels/gru.py", "_gru_forward",
     "for group in range(c * per_chunk, min(groups, (c + 1) * per_chunk)):",
     "for group in range(c * per_chunk, min(groups, c * per_chunk + 1)):",
     RECURRENT_KERNEL_TESTS),
    ("kernels/gru.py", "_gru_forward",
     "hs[r] = h0[first + r]",
     "hs[r] = h0[first]",
     RECURRENT_KERNEL_TESTS),
    ("kernels/gru.py", "_gru_backward",
     "dgh[r, 2 * H + u] = da_n * rg",
     "dgh[r, 2 * H + u] = da_n",
     RECURRENT_KERNEL_TESTS),
    ("kernels/gru.py", "_gru_backward",
     "carry[r, u] = dht * z  # the direct path, z * h_prev ...",
     "carry[r, u] = dht * (one - z)",
     RECURRENT_KERNEL_TESTS),
    ("kernels/gru.py", "_gru_backward",
     "carry += back",
     "carry[:] = back",
     RECURRENT_KERNEL_TESTS),
    ("kernels/gru.py", "_gru_backward",
     "carry[:] = 0",
     "pass",
     RECURRENT_KERNEL_TESTS),
    ("kernels/gru.py", "_gru_backward",
     "dgx[:] = 0",
     "pass",
     RECURRENT_KERNEL_TESTS),
    ("kernels/gru.py", "_gru_backward",
     "rows = min(4, N - first)",
     "rows = min(4, max(1, N - first - 1))",
     RECURRENT_KERNEL_TESTS),
    ("kernels/gru.py", "_gru_backward",
     "for group in range(c * per_chunk, min(groups, (c + 1) * per_chunk)):",
     "for group in range(c * per_chunk, min(groups, c * per_chunk + 1)):",
     RECURRENT_KERNEL_TESTS),
    ("kernels/gru.py", "_gru_backward",
     "project4(dxs, W_ihT, no_bias_C, dgx)  # dx_t = dgx @ W_ih",
     "project4(dxs, W_ihT, no_bias_C, dgh)",
     RECURRENT_KERNEL_TESTS),
    ("kernels/gru.py", "_gru_backward",
     "dh0[first + r] = carry[r]",
     "dh0[first + r] = carry[0]",
     RECURRENT_KERNEL_TESTS),
    ("kernels/gru.py", "_sum_over_chunks",
     "for c in range(1, parts.shape[0]):",
     "for c in range(1, parts.shape[0] - 1):",
     RECURRENT_KERNEL_TESTS),
    ("kernels/lstm.py", "_lstm_forward",
     "o = one / (one + np.exp(-(ax[r, 3 * H + u] + ah[r, 3 * H + u])))",
     "o = one / (one + np.exp(-(ax[r, 3 * H + u] + ah[r, 2 * H + u])))",
     RECURRENT_KERNEL_TESTS),
    ("kernels/lstm.py", "_lstm_forward",
     "cs[r] = c0[first + r]",
     "cs[r] = 0",
     RECURRENT_KERNEL_TESTS),
    ("kernels/lstm.py", "_lstm_forward",
     "rows = min(4, N - first)",
     "rows = min(4, max(1, N - first - 1))",
     RECURRENT_KERNEL_TESTS),
    ("kernels/lstm.py", "_lstm_forward",
     "for group in range(k * per_chunk, min(groups, (k + 1) * per_chunk)):",
     "for group in range(k * per_chunk, min(groups, k * per_chunk + 1)):",
     RECURRENT_KERNEL_TESTS),
    ("kernels/lstm.py", "_lstm_backward",
     "da[r, H + u] = dct * cp * f * (one - f)",
     "da[r, H + u] = dct * c[m, t, u] * f * (one - f)",
     RECURRENT_KERNEL_TESTS),
    ("kernels/lstm.py", "_lstm_backward",
     "dc_next[r, u] = dct * f",
     "dc_next[r, u] = dct",
     RECURRENT_KERNEL_TESTS),
    ("kernels/lstm.py", "_lstm_backward",
     "dc_next[:] = 0",
     "pass",
     RECURRENT_KERNEL_TESTS),
    ("kernels/lstm.py", "_lstm_backward",
     "da[:] = 0",
     "pass",
     RECURRENT_KERNEL_TESTS),
    ("kernels/lstm.py", "_lstm_backward",
     "rows = min(4, N - first)",
     "rows = min(4, max(1, N - first - 1))",
     RECURRENT_KERNEL_TESTS),
    ("kernels/lstm.py", "_lstm_backward",
     "for group in range(k * per_chunk, min(groups, (k + 1) * per_chunk)):",
     "for group in range(k * per_chunk, min(groups, k * per_chunk + 1)):",
     RECURRENT_KERNEL_TESTS),
    ("kernels/lstm.py", "_lstm_backward",
     "dc0[first + r] = dc_next[r]",
     "dc0[first + r] = dh_next[r]",
     RECURRENT_KERNEL_TESTS),
    ("kernels/lstm.py", "_lstm_backward",
     "db_hh[...] = db_ih",
     "pass",
     RECURRENT_KERNEL_TESTS),
    ("kernels/rowblocks.py", "_project4",
     "s3 += wk * v3[k]",
     "s3 += wk * v2[k]",
     RECURRENT_KERNEL_TESTS),
    ("kernels/rowblocks.py", "_project4",
     "out[2, j] = s2",
     "out[2, j] = s1",
     RECURRENT_KERNEL_TESTS),
    ("kernels/rowblocks.py", "_project4",
     "s1 = b[j]",
     "s1 = b[0]",
     RECURRENT_KERNEL_TESTS),
    ("kernels/rowblocks.py", "_add_outer4",
     "dw[k] += g0 * v0[k] + g1 * v1[k] + g2 * v2[k] + g3 * v3[k]",
     "dw[k] += g0 * v0[k] + g1 * v1[k] + g2 * v2[k] + g3 * v2[k]",
     RECURRENT_KERNEL_TESTS),
    ("kernels/rowblocks.py", "_add_outer4",
     "db[j] += g0 + g1 + g2 + g3",
     "db[j] += g0 + g1 + g2",
     RECURRENT_KERNEL_TESTS),
    ("kernels/rowblocks.py", "_add_outer4",
     "for k in range(K):",
     "for k in range(K - 1):",
     RECURRENT_KERNEL_TESTS),
    # ... and the naive loops beside them
    ("kernels/gru.py", "_gru_backward_naive",
     "carry[u] = dht * z  # the direct path, z * h_prev",
     "carry[u] = dht",
     RECURRENT_KERNEL_TESTS),
    ("kernels/lstm.py", "_lstm_forward_naive",
     "cp = c[m, t - 1, u] if t > 0 else c0[m, u]",
     "cp = c[m, t - 1, u] if t > 1 else c0[m, u]",
     RECURRENT_KERNEL_TESTS),
]


def plant(text, function, line, bug):
    """``text`` with ``line`` replaced by ``bug`` in ``function``: a top-level function's name, or a method's
    qualified by its class ("_InvertedDropout.forward"), for a file with several methods of one name."""
    cls, _, function = function.rpartition(".")
    if cls:  # the method: from its def to the next def of a method, or the next class
        start = text.index(f"\n    def {function}(", re.search(rf"^class {cls}\b", text, re.M).start()) + 1
        end = min([k for k in (text.find("\n    def ", start), text.find("\nclass ", start)) if k >= 0],
                  default=len(text))
    else:
        start = text.index(f"def {function}(")
        end = text.find("\ndef ", start + 1)
    body = text[start:end]
    assert line in body, f"{function} no longer has the line {line!r}: update this list"
    return text[:start] + body.replace(line, bug, 1) + text[end:]


def copy_of_checkout(to):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, to / name)
    # pytcn.kernels must be the copy's kernels/, not the installed checkout's (setup.cfg maps it when installed)
    os.symlink("../kernels", to / "pytcn" / "kernels")
    os.symlink("../tasks", to / "pytcn" / "tasks")


def main(argv):
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    only = [int(a) for a in argv]
    missed = []
    for k, mutant in enumerate(MUTANTS):
        if only and k not in only:
            continue
        path, function, line, bug, *arguments = mutant if len(mutant) >= 4 else ("kernels/conv.py", *mutant)
        original = (ROOT / path).read_text()
        with tempfile.TemporaryDirectory() as tmp:
            tree, cache = Path(tmp) / "tree", Path(tmp) / "numba-cache"
            copy_of_checkout(tree)
            (tree / path).write_text(plant(original, function, line, bug))
            env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_CACHE_DIR=str(cache))
            tests = (arguments[0] if arguments else
                     ["tests/test_cuda.py", "-k", "fast or chunk"] if path.startswith("kernels/cuda/") else
                     ["tests/test_dropout.py", "-k", "not cuda"] if path == "pytcn/nn/layers.py" else
                     ["tests/test_kernels.py", "tests/test_streaming.py", "-k", "not cuda"])
            out = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                                 cwd=tree, env=env, capture_output=True, text=True)
        failed = [row for row in out.stdout.splitlines() if row.startswith("FAILED")]
        caught = out.returncode == 1 and failed
        if not caught:
            missed.append(k)
        print(f"{k:2d} {'CAUGHT' if caught else 'MISSED'} {function}: {bug.strip()}"
              + (f"\n     by {failed[0][len('FAILED '):]}" if failed else f"\n     {out.stdout[-300:]}"), flush=True)
    print(f"missed: {missed}" if missed else "every planted bug was caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
