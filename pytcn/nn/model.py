"""The TCN: a stack of residual blocks with keras-tcn's arguments, and a linear head.

    x: (N, T, C_in) -> blocks -> features (N, nb_filters, T) -> head -> y: (N, outputs)      return_sequences=False
                                                                       y: (N, T, outputs)   return_sequences=True

Without return_sequences the head reads one row of features per sequence: its last step (pooling='last'), or the
mean over its steps (pooling='mean').

Inputs and outputs are (batch, time, channels), as in keras-tcn; inside, the model works channels-first, the layout
of the kernels, and transposes once on the way in and once on the way out.
"""
import numpy as np

from ..runtime import validate
from ..runtime.archive import save_checkpoint
from ..runtime.backends import get_backend, pack, packed_zeros
from ..runtime.memory import afresh, empty, zeros
from ..runtime.passes import Passes
from . import streaming
from .architecture import (
    MAX_SIZE,
    blocks_problem,
    check_dilations,
    check_nb_filters,
    check_normalisation,
    raise_problem,
    receptive_field,
)
from .block import ResidualBlock
from .layers import Linear, _under

__all__ = ["TCN", "receptive_field"]


class TCN:
    """A temporal convolutional network with a linear head.

    Arguments with keras-tcn's names mean what they mean there:

    nb_filters            channels of every block (an int), or one per dilation level (a list)
    kernel_size           K, taps of every convolution
    nb_stacks             how many times the list of dilations is repeated
    dilations             the dilation of each block in a stack, e.g. (1, 2, 4, 8, 16, 32)
    use_skip_connections  if True, the features are the sum of every block's branch output (keras-tcn);
                          if False, the output of the last block (locuslab/TCN)
    dropout_rate          dropout after each convolution's ReLU, in [0, 1), active with training=True
    dropout_type          'spatial' (keras-tcn's SpatialDropout1D: whole channels of a sequence) or 'elementwise'
                          (torch.nn.Dropout, as locuslab/TCN: every element on its own)
    return_sequences      False: the head reads one row per sequence (see pooling); True: every time step
    activation            'relu' (the only one implemented)
    kernel_initializer    see pytcn.initializers; the head is always initialised glorot_uniform, as keras's Dense
    use_weight_norm       weight-normalise both convolutions of every block
    use_layer_norm        layer normalisation (over the channels of each step) after each convolution, before its
                          ReLU, as keras-tcn places it
    use_batch_norm        batch normalisation (per channel over the batch and the steps, running averages at
                          inference) in the same place; at most one of the three normalisations
    padding               'causal' (the default: an output never sees a later input) or 'same' (keras's non-causal
                          TCN: each convolution's taps centred on the output step); with 'same' and
                          return_sequences=False the head reads step T // 2, as keras-tcn's does

    and besides: ``input_channels`` (C_in), ``outputs`` (the head's width: 1 for a regression, the number of classes
    for a classification), ``pooling`` (below), ``dtype`` (float32 or float64), ``seed`` (initial weights and
    dropout masks) and ``backend`` ('cpu' for the Numba kernels, 'numpy' for the reference ones, 'cuda' for the GPU
    kernels: see pytcn.runtime.backends; on 'cuda' the parameters live on the GPU, forward returns a device array,
    and ``pytcn.to_numpy`` or ``state_dict`` bring arrays back).

    ``pooling`` says what the head reads of each sequence without return_sequences: 'last' (the default) the
    features at its last step, as keras-tcn's and locuslab/TCN's heads do (with padding='same', step T // 2); 'mean'
    their mean over its steps, global average pooling, from which FCN, ResNet and InceptionTime classify: over its
    own lengths[n] steps when ``forward`` is given lengths, else over all T steps (with padding='same' too, which
    takes no lengths). return_sequences=True outputs every step, and refuses pooling='mean'.

    Its activations and gradients come from arenas that hand the same buffers out again at every pass (see
    pytcn.runtime.memory and ``configure_memory``): after the first step of a batch shape, a training step allocates
    only the two arrays it hands back, the prediction and the input gradient, which are the caller's to keep.

    One model may be used from several threads: its passes run one at a time (a lock), and each thread keeps its
    own arenas and its own last pass, so a forward in one thread never disturbs a backward in another. ``grads``
    holds what the latest backward of any thread wrote.

    Parameters are named as PyTorch names those of locuslab/TCN's model (``state_dict``): block b = stack *
    len(dilations) + i is ``tcn.network.{b}``, the head is ``linear``.
    """

    def __init__(self, *, input_channels, outputs=1, nb_filters=64, kernel_size=3, nb_stacks=1,
                 dilations=(1, 2, 4, 8, 16, 32), use_skip_connections=True, dropout_rate=0.0, return_sequences=False,
                 activation="relu", kernel_initializer="he_normal", use_weight_norm=False, dtype=np.float32,
                 seed=None, backend="cpu", dropout_type="spatial", padding="causal", use_layer_norm=False,
                 use_batch_norm=False, pooling="last"):
        self.input_channels = validate.integer("input_channels", input_channels, 1, MAX_SIZE)
        self.outputs = validate.integer("outputs", outputs, 1, MAX_SIZE)
        self.kernel_size = validate.integer("kernel_size", kernel_size, 1, MAX_SIZE)
        self.nb_stacks = validate.integer("nb_stacks", nb_stacks, 1)
        self.dilations = check_dilations("dilations", dilations)
        raise_problem(blocks_problem(self.nb_stacks, len(self.dilations)))
        self.use_skip_connections = validate.boolean("use_skip_connections", use_skip_connections)
        self.nb_filters = check_nb_filters(nb_filters, len(self.dilations), self.use_skip_connections)
        self.dropout_rate = validate.real("dropout_rate", dropout_rate, 0.0, 1.0, high_open=True)
        self.dropout_type = validate.one_of("dropout_type", dropout_type, ("spatial", "elementwise"))
        self.padding = validate.one_of("padding", padding, ("causal", "same"))
        self.return_sequences = validate.boolean("return_sequences", return_sequences)
        self.pooling = validate.one_of("pooling", pooling, ("last", "mean"))
        if self.pooling == "mean" and self.return_sequences:
            raise ValueError("pooling='mean' cannot be used with return_sequences=True: the mean over the steps is "
                             "one row per sequence, and return_sequences outputs every step; choose one")
        self.activation = validate.one_of("activation", activation, ("relu",))
        self.kernel_initializer = kernel_initializer
        self.use_weight_norm, self.use_layer_norm, self.use_batch_norm = check_normalisation(
            use_weight_norm, use_layer_norm, use_batch_norm)
        self.dtype = validate.as_dtype("dtype", dtype)
        self.backend = get_backend(backend)
        self.seed = None if seed is None else validate.integer("seed", seed, 0)  # a Python int: config is JSON
        channels = self.nb_filters if isinstance(self.nb_filters, list) else [self.nb_filters] * len(self.dilations)

        self.rng = np.random.default_rng(seed)  # initial weights, then the dropout masks of training steps
        self.blocks = []
        c_in = self.input_channels
        for _stack in range(self.nb_stacks):
            for d, c_out in zip(self.dilations, channels):
                self.blocks.append(ResidualBlock(
                    c_in, c_out, self.kernel_size, d, dropout_rate=self.dropout_rate, dropout_type=self.dropout_type,
                    padding=self.padding,
                    use_weight_norm=self.use_weight_norm, use_layer_norm=self.use_layer_norm,
                    use_batch_norm=self.use_batch_norm, kernel_initializer=kernel_initializer, rng=self.rng,
                    dtype=self.dtype, backend=self.backend))
                c_in = c_out
        self.linear = Linear(c_in, self.outputs, rng=self.rng, dtype=self.dtype, backend=self.backend)

        # every parameter is a view of its slice of one flat buffer (pytcn.runtime.backends.pack), and so is every
        # gradient, so that an optimizer updates them all in one pass; the layers take the parameters' views as their
        # arrays
        self.params = pack(self.backend, dict(self._layers_named_parameters()))  # live: updated in place
        self.grads = packed_zeros(self.backend, self.params)  # written by backward (not accumulated)
        for b, block in enumerate(self.blocks):
            block.rebind(self.params, f"tcn.network.{b}.")
        self.linear.rebind(self.params, "linear.")
        # arrays the layers keep and update themselves (batch norm's running statistics): in the state_dict, never
        # touched by an optimizer; the blocks' own arrays, by name
        self.buffers = {name: b for k, block in enumerate(self.blocks) for name, b in
                        block.named_buffers(f"tcn.network.{k}.")}
        # the lock, the per-thread arenas, the checks and the device copies around each pass (pytcn/runtime/passes.py)
        self.passes = Passes(self.backend, self.dtype)

    def configure_memory(self, reuse=True, poison=False):
        """How the model's passes get their arrays (pytcn/runtime/memory.py). ``reuse=True`` (the default): from
        arenas that hand the same buffers out again at every pass, one set per thread. ``reuse=False``: every array
        anew, as a layer on its own allocates (for comparisons: the tests check both ways agree, benchmarks/memory.py
        times them). ``poison=True``: buffers filled with NaN whenever their arena is reset (for tests)."""
        self.passes.configure(reuse, poison)

    def workspace(self):
        """This thread's Workspace: its arenas and the caches of its last forward."""
        return self.passes.workspace()

    def _layers_named_parameters(self):
        named = [entry for b, block in enumerate(self.blocks) for entry in block.named_parameters(f"tcn.network.{b}.")]
        return named + self.linear.named_parameters("linear.")

    # ---------------------------------------------------------------------------------------------------------
    # what the network is

    @property
    def receptive_field(self):
        """The receptive field R: the span of input steps the last output reaches back over (with dilations that
        leave holes it reads only some of them); see ``pytcn.receptive_field``."""
        return receptive_field(self.kernel_size, self.dilations, self.nb_stacks)

    def count_params(self):
        return int(sum(p.size for p in self.params.values()))

    def _normalisation(self):
        return "weight norm" if self.use_weight_norm else "layer norm" if self.use_layer_norm else \
            "batch norm" if self.use_batch_norm else "no normalisation"

    def _head_reads(self):
        """Which steps of the features the head reads, in words (for ``summary``)."""
        if self.return_sequences:
            return "at every step"
        if self.pooling == "mean":  # padding='same' takes no lengths: always over all T steps
            return "averaged over the steps" + (" (each sequence's own, given lengths)" if self.padding == "causal"
                                                else "")
        return "at the middle step (T // 2)" if self.padding == "same" else "at the last step"

    def summary(self, print_fn=print):
        """Prints one row per block (its stack, dilation, input and output shapes, parameters, and the receptive field
        of the network up to it), the head, and the totals, as keras's Model.summary does; ``print_fn`` receives
        each line (``lines.append`` keeps them)."""
        K = self.kernel_size
        head_in = (self.linear.in_features,)
        rows = [("block", "stack", "dilation", "input", "output", "parameters", "receptive field")]
        reach = 0  # sum of the dilations so far
        for b, block in enumerate(self.blocks):
            d = block.conv1.dilation
            reach += d
            n = sum(int(p.size) for p in block.params.values())
            rows.append((str(b), str(b // len(self.dilations)), str(d), f"(N, T, {block.conv1.in_channels})",
                         f"(N, T, {block.conv2.out_channels})", f"{n:,}", str(receptive_field(K, [reach]))))
        steps = "N, T, " if self.return_sequences else "N, "
        head_params = sum(int(p.size) for p in self.linear.params.values())
        rows.append(("head", "", "", f"({steps}{head_in[0]})", f"({steps}{self.outputs})", f"{head_params:,}", ""))
        widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]

        def line(row):
            cells = (cell.rjust(w) if k >= 5 else cell.ljust(w) for k, (cell, w) in enumerate(zip(row, widths)))
            return "  ".join(cells).rstrip()

        features = "the sum of every block's branch (skip connections)" if self.use_skip_connections else \
            "the last block's output"
        print_fn(f"TCN: {self.input_channels} input channel{'s' if self.input_channels > 1 else ''} -> "
                 f"{self.outputs} output{'s' if self.outputs > 1 else ''}, kernel size {K}, "
                 f"{len(self.blocks)} blocks ({self.nb_stacks} stack{'s' if self.nb_stacks > 1 else ''}), "
                 f"{self._normalisation()}; the head reads {features} {self._head_reads()}")
        for k, row in enumerate(rows):
            print_fn(line(row))
            if k == 0:
                print_fn("  ".join("-" * w for w in widths))
        print_fn(f"total: {self.count_params():,} parameters, receptive field {self.receptive_field} steps")

    @property
    def config(self):
        """The constructor's arguments: ``TCN(**model.config)`` builds the same architecture."""
        return dict(input_channels=self.input_channels, outputs=self.outputs, nb_filters=self.nb_filters,
                    kernel_size=self.kernel_size, nb_stacks=self.nb_stacks, dilations=list(self.dilations),
                    use_skip_connections=self.use_skip_connections, dropout_rate=self.dropout_rate,
                    dropout_type=self.dropout_type, padding=self.padding,
                    return_sequences=self.return_sequences, pooling=self.pooling, activation=self.activation,
                    kernel_initializer=self.kernel_initializer, use_weight_norm=self.use_weight_norm,
                    use_layer_norm=self.use_layer_norm, use_batch_norm=self.use_batch_norm,
                    dtype=self.dtype.name, seed=self.seed, backend=self.backend.name)

    # ---------------------------------------------------------------------------------------------------------
    # passes

    def forward(self, x, training=False, rng=None, lengths=None):
        """x: (N, T, input_channels) -> y: (N, outputs), or (N, T, outputs) with return_sequences.

        Floating input is converted to the model's dtype. ``training=True`` turns dropout on; its masks are drawn
        from ``rng`` (a np.random.Generator), or from the model's own generator when rng is None. The caches for
        ``backward`` stay in the model (in this thread's workspace) until the next forward; ``y`` is the caller's.

        ``lengths`` (N integers in [1, T]): a batch of sequences of different lengths, padded at the end to T steps;
        the head then reads step lengths[n] - 1 of sequence n, its own last step (pooling='mean': the mean over its
        first lengths[n] steps), which a causal TCN computes from that sequence alone, whatever the padding after it.
        (With return_sequences every step is output: leave lengths out and mask the padding out of the loss
        instead, ``pytcn.losses.length_mask``.)
        """
        rng = self._dropout_rng(training, rng)
        x = self.passes.checked("x", x, 3, (None, None, self.input_channels))  # the public boundary
        N, T, _ = x.shape
        lengths = self._checked_lengths(lengths, N, T)
        be = self.backend
        with self.passes.forward(x) as x:  # one pass at a time, this thread's arenas, x on the device
            # what the head reads of each sequence, (N,) on the backend: the step (pooling='last'), or how many first
            # steps it averages (pooling='mean'); None: every step
            reads = self._head_lengths(N, T, lengths) if self.pooling == "mean" else self._head_steps(N, T, lengths)
            h = empty(be, (N, self.input_channels, T), self.dtype)
            be.transpose(h, x)  # N, C_in, T: the kernels' layout
            features = zeros(be, (N, self.width, T), self.dtype) if self.use_skip_connections else None
            block_caches = []
            for block in self.blocks:
                (h, branch), cache = block.forward(h, training, rng)
                block_caches.append(cache)
                if self.use_skip_connections:
                    be.add(features, features, branch)  # features = the sum of every block's branch
            if not self.use_skip_connections:
                features = h  # the last block's output
            head_input = self._head_input(features, reads)  # N, F: the step or the mean the head reads; or N*T, F
            with afresh():  # the prediction is the caller's to keep: a new array, never an arena's
                y, head_cache = self.linear.forward(head_input)
            y = y.reshape(N, T, self.outputs) if self.return_sequences else y
            self.passes.keep((block_caches, head_cache, features.shape, reads), y.shape)  # for backward
        return y

    def backward(self, dy):
        """dy: the gradient of the loss with respect to forward's output (its shape) -> dx: (N, T, input_channels).

        Fills ``grads`` (overwriting what the previous backward wrote) from the caches of this thread's last forward.
        """
        be, grads = self.backend, self.grads
        with self.passes.backward(dy) as (dy, (block_caches, head_cache, features_shape, reads)):
            N, F, T = features_shape
            if self.return_sequences:
                drows, _ = self.linear.backward(dy.reshape(N * T, self.outputs), head_cache,
                                                out=_under(grads, "linear."))  # N*T, F
            else:
                drows, _ = self.linear.backward(dy, head_cache, out=_under(grads, "linear."))  # N, F
            with self.passes.whole_backward():  # read by every block: lives through the whole backward pass
                dfeatures = self._head_input_backward(drows, reads, features_shape)  # N, F, T
                # with skip connections: features = the sum of every block's branch, and the last block's out goes
                # nowhere; without: features = the last block's out
                dh = zeros(be, features_shape, self.dtype) if self.use_skip_connections else dfeatures
            dbranch = dfeatures if self.use_skip_connections else None
            for b in reversed(range(len(self.blocks))):
                # the block above is done: only its input gradient dh, which this block reads, lives on
                with self.passes.block_backward(keep=dh if b < len(self.blocks) - 1 else None):
                    prefix = f"tcn.network.{b}."
                    dh, block_grads = self.blocks[b].backward(dh, block_caches[b], dbranch, out=_under(grads, prefix))
                    self._store_gradients(prefix, block_grads)
            dx = be.empty((N, T, self.input_channels), self.dtype)  # the caller's: not from an arena
            be.transpose(dx, dh)  # back to (N, T, C_in)
        return dx

    __call__ = forward

    @property
    def width(self):
        """F: the channels of the features the head reads (the last block's)."""
        return self.blocks[-1].conv2.out_channels

    def _dropout_rng(self, training, rng):
        """The generator of this pass's dropout masks: ``rng``, or the model's own in training."""
        training = validate.boolean("training", training)
        if rng is not None:
            validate.generator("rng", rng)
        return self.rng if training and rng is None else rng

    def _checked_lengths(self, lengths, N, T):
        """``lengths`` (N ints in [1, T]) checked, or None."""
        if lengths is None:
            return None
        if self.return_sequences:
            raise ValueError("lengths is for a head that reads one step (return_sequences=False); with "
                             "return_sequences every step is output: mask the padding out of the loss instead "
                             "(pytcn.losses.length_mask(lengths, T))")
        if self.padding == "same":
            raise ValueError("lengths cannot be used with padding='same': there a step reads the steps after it, "
                             "so the padding after a shorter sequence changes its outputs")
        return validate.lengths("lengths", lengths, N, T)

    def _head_steps(self, N, T, lengths):
        """The time step the head reads of each sequence (N,) int64 on the backend, or None with return_sequences."""
        if lengths is not None:
            return self.backend.to_device(lengths - 1)  # each sequence's own last step
        if self.return_sequences:
            return None
        # the last step; with padding='same' the middle one, as keras-tcn's head reads it; the same at every pass
        step = T // 2 if self.padding == "same" else T - 1
        return self.passes.device_constant("head steps", lambda: np.full(N, step, np.int64))

    def _head_lengths(self, N, T, lengths):
        """How many first steps of each sequence the head averages (pooling='mean'), (N,) int64 on the backend: its
        own length, or all T."""
        if lengths is not None:
            return self.backend.to_device(lengths)
        # every step (padding='same' included, which refuses lengths); the same at every pass
        return self.passes.device_constant("head lengths", lambda: np.full(N, T, np.int64))

    def _head_input(self, features, reads):
        """The rows the head reads: features (N, F, T) at one step of each sequence, or their mean over its first
        steps (pooling='mean'), (N, F); or at every step, (N*T, F). ``reads``: the steps, or the lengths."""
        be = self.backend
        N, F, T = features.shape
        if self.return_sequences:
            rows = empty(be, (N, T, F), self.dtype)
            be.transpose(rows, features)
            return rows.reshape(N * T, F)
        head_input = empty(be, (N, F), self.dtype)
        if self.pooling == "mean":
            be.mean_steps(head_input, features, reads)  # the mean over the first reads[n] steps of sequence n
        else:
            be.take_steps(head_input, features, reads)  # step reads[n] of sequence n
        return head_input

    def _head_input_backward(self, drows, reads, features_shape):
        """The adjoint of ``_head_input``: dfeatures (N, F, T) from the rows' gradient."""
        be = self.backend
        N, F, T = features_shape
        dfeatures = empty(be, features_shape, self.dtype)
        if self.return_sequences:
            be.transpose(dfeatures, drows.reshape(N, T, F))  # forward: rows = features transposed
        elif self.pooling == "mean":
            be.spread_steps(dfeatures, drows, reads)  # forward: the mean over each sequence's first reads[n] steps
        else:
            be.scatter_steps(dfeatures, drows, reads)  # forward read one step of each sequence
        return dfeatures

    # ---------------------------------------------------------------------------------------------------------
    # streaming: one step at a time (pytcn/nn/streaming.py)

    def stream(self, batch_size=None, state=None):
        """A stream state for ``batch_size`` sequences at their start (zeros), or a copy of ``state`` on this model's
        backend (to keep a state, or to restore one saved as NumPy arrays). See pytcn.streaming."""
        return streaming.new_state(self, batch_size, state)

    def step(self, x, state):
        """x: (N, input_channels), the inputs of the next step -> (y, state): y (N, outputs), what ``forward`` gives at
        that step, and the state, advanced in place. x may be a chunk (N, T, input_channels): y is (N, T, outputs).
        Dropout is off (inference)."""
        return streaming.step(self, x, state)

    def reset_stream(self, state, samples=None):
        """Starts the sequences ``samples`` of ``state`` (indices into its batch, as NumPy indexes it: all by default,
        none for an empty list) afresh, in place."""
        return streaming.reset(self, state, samples)

    def _store_gradients(self, prefix, grads):
        for name, g in grads.items():
            if g is not self.grads[prefix + name]:  # not written in place (a norm's): copied
                self.backend.copy(self.grads[prefix + name], g)

    # ---------------------------------------------------------------------------------------------------------
    # parameters, PyTorch-style

    def named_parameters(self):
        """(name, param, grad) for every trainable array, in state_dict order."""
        return [(name, p, self.grads[name]) for name, p in self.params.items()]

    def state_dict(self):
        """A NumPy copy of every parameter and buffer, named and shaped as in PyTorch's locuslab/TCN model (on any
        backend); batch norm's buffers as torch.nn.BatchNorm1d's."""
        arrays = {name: self.backend.to_host(p) for name, p in self.params.items()}
        return arrays | {name: np.array(self.backend.to_host(b) if self.backend.is_array(b) else b)
                         for name, b in self.buffers.items()}

    def load_state_dict(self, state_dict):
        """Copies ``state_dict``'s arrays into the parameters and buffers, after checking every name, shape and
        dtype."""
        validate.matching_arrays("state_dict", state_dict, self.params | self.buffers)
        for name, p in self.params.items():
            self.backend.load(p, state_dict[name])  # in place: an optimizer holding these arrays keeps working
        for name, b in self.buffers.items():
            if self.backend.is_array(b):
                self.backend.load(b, state_dict[name])
            else:  # num_batches_tracked: a host scalar on every backend
                b[...] = state_dict[name]

    def save(self, path):
        """Writes the architecture and the parameters to ``path`` (an .npz of plain arrays, written atomically);
        ``pytcn.load_model(path)`` rebuilds the model."""
        save_checkpoint(path, self.state_dict(), {"model": self.config})

    def __repr__(self):
        return (f"TCN({', '.join(f'{k}={v!r}' for k, v in self.config.items())}) "
                f"# {self.count_params()} parameters, receptive field {self.receptive_field}")
