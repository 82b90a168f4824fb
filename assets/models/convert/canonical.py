"""Rewrites an ONNX model with names that depend only on its graph.

tf2onnx names the tensors it makes from a global counter, so two conversions of one
TFLite file differ in bytes though not in meaning. Renaming every inner tensor and node in
order of first use, and clearing the converter's version string, makes the output the
same byte for byte on every run, so the committed file's digest can be checked. The
graph's note (tf2onnx writes the input's path there) is cleared too.
"""

import sys

import onnx


def canonical(model: onnx.ModelProto) -> onnx.ModelProto:
    graph = model.graph
    keep = {i.name for i in graph.input} | {o.name for o in graph.output}
    names: dict[str, str] = {}

    def rename(name: str) -> str:
        if name == "" or name in keep:
            return name
        return names.setdefault(name, f"t{len(names)}")

    for i, node in enumerate(graph.node):
        node.name = f"n{i}"
        node.input[:] = [rename(x) for x in node.input]
        node.output[:] = [rename(x) for x in node.output]
    for tensor in graph.initializer:
        tensor.name = rename(tensor.name)
    ordered = sorted(graph.initializer, key=lambda t: int(t.name[1:]))
    del graph.initializer[:]
    graph.initializer.extend(ordered)
    for info in graph.value_info:
        info.name = rename(info.name)
    model.producer_version = ""
    model.doc_string = ""
    graph.doc_string = ""
    return model


if __name__ == "__main__":
    onnx.save(canonical(onnx.load(sys.argv[1])), sys.argv[2])
