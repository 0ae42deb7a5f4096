"""A small builder over the ``onnx`` package's helpers: nodes and initializers collected in order, names made unique.

Every graph pytcn exports is made here with ``onnx.helper`` and ``onnx.numpy_helper`` (nothing serialised by hand):
``Graph.node`` adds one operator and returns the name of its output, so that a network reads as the chain of calls
its forward pass is (pytcn/export/tcn.py).
"""
import numpy as np

#: the ONNX opset every graph is made for: 17, the first with LayerNormalization, read by onnxruntime (1.13 on),
#: TensorRT (8.6 on), OpenVINO and onnxruntime-web; in 17, ReduceMean still takes its axes as an attribute
OPSET = 17


def onnx_modules():
    """(onnx, helper, numpy_helper, TensorProto), or an ImportError that says what to install."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise ImportError("exporting to ONNX needs the onnx package: pip install 'pytcn[onnx]' (onnx, and "
                          "onnxruntime to run the exported graph)") from None
    return onnx, helper, numpy_helper, TensorProto


class Graph:
    """Nodes, initializers, inputs and outputs of one ONNX graph, in the order they are added."""

    def __init__(self, name):
        _, self.helper, self.numpy_helper, self.TensorProto = onnx_modules()
        self.name = name
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        # ONNX keeps the names of values (inputs, outputs, initializers, what nodes make) apart from those of nodes:
        # a Conv node is "tcn.network.0.conv1" beside the streaming graph's history input of that name
        self._names = {"value": set(), "node": set()}

    def _unique(self, name, kind="value"):
        """``name``, or name_1, name_2, ... if a value (or a node) of that name exists already."""
        taken = self._names[kind]
        candidate, k = name, 0
        while candidate in taken:
            k += 1
            candidate = f"{name}_{k}"
        taken.add(candidate)
        return candidate

    def elem_type(self, dtype):
        """The ONNX element type of a NumPy dtype."""
        return self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))

    def input(self, name, dtype, shape):
        """A graph input; ``shape`` holds ints and strings (the names of dynamic axes). Returns its name."""
        name = self._unique(name)
        self.inputs.append(self.helper.make_tensor_value_info(name, self.elem_type(dtype), list(shape)))
        return name

    def output(self, value, name, dtype, shape):
        """Makes ``value`` (a name in the graph) a graph output called ``name``: through an Identity when the names
        differ. Returns ``name``."""
        if value != name:
            self.node("Identity", [value], name=name, output=name)
        self.outputs.append(self.helper.make_tensor_value_info(name, self.elem_type(dtype), list(shape)))
        return name

    def constant(self, name, array):
        """An initializer holding ``array`` (a copy); returns its name."""
        name = self._unique(name)
        array = np.asarray(array)
        if array.dtype.kind in "OU":  # labels: a string tensor
            tensor = self.helper.make_tensor(name, self.TensorProto.STRING, array.shape,
                                             [str(s).encode() for s in array.ravel()])
        else:
            # a C-ordered copy (np.ascontiguousarray would make a 0-d array 1-d)
            tensor = self.numpy_helper.from_array(array.copy(order="C"), name)
        self.initializers.append(tensor)
        return name

    def node(self, op, inputs, name=None, output=None, **attributes):
        """One operator; returns the name of its (single) output."""
        name = self._unique(name or op, "node")
        output = self._unique(output) if output else self._unique(f"{name}_out")
        self.nodes.append(self.helper.make_node(op, list(inputs), [output], name=name, **attributes))
        return output

    def model(self, doc, metadata):
        """The ModelProto: this graph at OPSET, with ``doc`` and ``metadata`` ({key: str}) attached."""
        graph = self.helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = self.helper.make_model(graph, opset_imports=[self.helper.make_opsetid("", OPSET)],
                                       producer_name="pytcn", doc_string=doc)
        # the IR version of onnx 1.13, which opset 17 came with: readable by every runtime that reads opset 17
        model.ir_version = 8
        self.helper.set_model_props(model, metadata)
        return model
