"""Rewrites OpenCV zoo's block-quantised SFace model as a plain fp32 ONNX model.

`face_recognition_sface_2021dec_int8bq.onnx` stores each weight as int8 with one scale and
zero point per block of 64 values (opset 21 `DequantizeLinear` with `block_size`), and
lists its weights among the graph inputs, where no node reads them. tract-onnx (and onnxruntime) refuse it as is.
This folds every dequantisation into an fp32 initialiser, exactly as the operator would
compute it, drops the weight inputs, and declares opset 14, which every remaining operator
(Conv, BatchNormalization, PRelu, Reshape, Gemm, Flatten, Dropout, Sub, Mul, Constant)
has. It then checks, on random faces, that the new model gives the original's output.

    python sface_fp32.py IN_int8bq.onnx OUT_fp32.onnx
"""

import sys

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator


def expand(blocks: np.ndarray, axis: int, block: int, length: int) -> np.ndarray:
    """One scale (or zero point) per block along `axis`, repeated over its block."""
    return np.repeat(blocks, block, axis=axis).take(range(length), axis=axis)


def fold(model: onnx.ModelProto) -> onnx.ModelProto:
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    folded = []
    for node in list(graph.node):
        if node.op_type != "DequantizeLinear":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        axis, block = attrs.get("axis", 1), attrs["block_size"]
        q, scale, zero = (numpy_helper.to_array(inits[n]) for n in node.input)
        axis = axis % q.ndim
        length = q.shape[axis]
        weights = (q.astype(np.float32) - expand(zero, axis, block, length).astype(np.float32)) * expand(
            scale, axis, block, length
        ).astype(np.float32)
        folded.append(numpy_helper.from_array(weights.astype(np.float32), node.output[0]))
        graph.node.remove(node)
        for name in node.input:
            graph.initializer.remove(inits.pop(name))
    graph.initializer.extend(folded)
    # The weights are also listed as graph inputs, which no node reads (the nodes read the
    # dequantised copies): keep only inputs a node reads and nothing initialises, the face.
    read = {x for n in graph.node for x in n.input}
    initialised = {t.name for t in graph.initializer}
    for i in [i for i in graph.input if i.name not in read or i.name in initialised]:
        graph.input.remove(i)
    del model.opset_import[:]
    model.opset_import.extend([onnx.helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def check_same(original: onnx.ModelProto, rewritten: onnx.ModelProto) -> float:
    rng = np.random.default_rng(7)
    faces = rng.uniform(0, 255, size=(3, 1, 3, 112, 112)).astype(np.float32)
    a, b = ReferenceEvaluator(original), ReferenceEvaluator(rewritten)
    input_name = rewritten.graph.input[0].name
    worst = 0.0
    for face in faces:
        want = a.run(None, {input_name: face})[0]
        got = b.run(None, {input_name: face})[0]
        worst = max(worst, float(np.max(np.abs(want - got)) / (np.max(np.abs(want)) + 1e-9)))
    return worst


if __name__ == "__main__":
    source, target = sys.argv[1], sys.argv[2]
    rewritten = fold(onnx.load(source))
    difference = check_same(onnx.load(source), rewritten)
    if difference > 1e-5:
        sys.exit(f"the rewritten model differs from the original by {difference:.2e}")
    onnx.save(rewritten, target)
    print(f"{target}: same output as the original (largest relative difference {difference:.1e})")
