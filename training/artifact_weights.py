"""A released artifact's weights back as a trainable model's state dict.

The release holds only the exported ONNX graph (models/), not the training run, so a
new stage or a user's retraining can start from the shipped model itself. The exporter
keeps each parameter's name, except where ONNX Runtime's optimiser fused it: a dense
layer becomes a MatMul on the transposed weight (named after its node), and each
layer's query, key and value become one Attention node with the three concatenated.
The result is checked against the graph's own outputs before anyone trains on it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from serving.artifact import verify
from training.model import MultiTaskModel, load_weights

PROBE = (
    "Turkish F-16 jets struck PKK positions near Dohuk on Sunday, the ministry in Ankara "
    "said. Police in Nairobi fired tear gas at protesters outside parliament."
)
# fp16-stored weights run in fp32 on both sides; what differs is rounding in fused kernels.
MAX_LOGIT_DIFFERENCE = 0.05
QKV = ("query", "key", "value")


def _param(path: str, kind: str) -> str:
    """'encoder/encoder/layer.0/output/dense', 'weight' -> the parameter's name."""
    dotted = path.replace("/", ".")
    if dotted in ("entity", "event_role", "actor_role"):
        dotted = f"token_heads.{dotted}"
    return f"{dotted}.{kind}"


def _path(tensor: str, suffix: str) -> str | None:
    """The module path in a node or tensor name: '/model/<path>/<suffix>'."""
    m = re.fullmatch(rf"/model/(.+)/{suffix}", tensor)
    return m.group(1) if m else None


def state_from_graph(graph_path: Path) -> dict[str, torch.Tensor]:
    """The parameters the graph holds, named and shaped as in MultiTaskModel. Names come
    from the nodes that use them where there is one, since the exporter merges identical
    initialisers (two LayerNorms still at their initial ones) under one name."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(graph_path)).graph
    arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    source = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Cast"}
    state: dict[str, np.ndarray] = {
        name.removeprefix("model.").removesuffix("__fp16"): array
        for name, array in arrays.items()
        if name.startswith("model.")
    }

    def put(param: str, tensor: str, transpose: bool = False) -> None:
        array = arrays.get(source.get(tensor, tensor))
        if array is not None:
            state[param] = array.T if transpose else array

    for node in graph.node:
        op, ins = node.op_type, list(node.input)
        if op == "MatMul" and (path := _path(node.name, "MatMul")):
            put(_param(path, "weight"), ins[1], transpose=True)
        elif op in ("Add", "BiasGelu"):
            path = _path(node.name, "Add") or _path(ins[0], "MatMul_output_0")
            for tensor in ins:
                if path and source.get(tensor, tensor) in arrays:
                    put(_param(path, "bias"), tensor)
        elif op in ("LayerNormalization", "SkipLayerNormalization"):
            path = _path(node.output[0], "LayerNormalization_output_0")
            if path is None:
                continue
            first = 1 if op == "LayerNormalization" else 2
            put(_param(path, "weight"), ins[first])
            put(_param(path, "bias"), ins[first + 1])
            if op == "SkipLayerNormalization" and len(ins) > 4:  # the dense layer's bias
                put(_param(path.rsplit("/", 1)[0] + "/dense", "bias"), ins[4])
        elif op == "Attention":
            layer = int(node.name.rsplit("_", 1)[1])
            weight, bias = (arrays.get(source.get(t, t)) for t in ins[1:3])
            if weight is None or bias is None:
                raise ValueError(f"{graph_path}: attention node {node.name} has no weights")
            prefix = f"encoder.encoder.layer.{layer}.attention.self"
            for part, w, b in zip(QKV, np.split(weight, 3, axis=1), np.split(bias, 3), strict=True):
                state[f"{prefix}.{part}.weight"] = w.T
                state[f"{prefix}.{part}.bias"] = b
    return {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()}


def load_from_artifact(model: MultiTaskModel, folder: Path) -> None:
    """Load a verified artifact's fp32 graph weights into `model` and check that the
    model now gives the graph's logits on a probe text."""
    from serving.engine import Engine
    from serving.onnx_backend import OnnxBackend
    from training.backend import TorchBackend

    artifact = verify(folder)
    graph = artifact.graph("fp32")
    wanted = model.state_dict()
    load_weights(model, {k: v for k, v in state_from_graph(graph).items() if k in wanted})
    settings, tokenizer = artifact.settings(), artifact.tokenizer()
    ((_, want),) = Engine(tokenizer, OnnxBackend(graph), settings).token_logits([PROBE])
    ((_, got),) = Engine(tokenizer, TorchBackend(model), settings).token_logits([PROBE])
    worst = max(float(np.abs(want[h] - got[h]).max()) for h in want)
    if worst > MAX_LOGIT_DIFFERENCE:
        raise ValueError(
            f"the weights read back from {folder} do not reproduce its graph (largest logit "
            f"difference {worst:.3f}); start from the training run's model folder instead"
        )


def load_start(model: MultiTaskModel, folder: Path) -> None:
    """`model.init_from`: a training run's model folder, or an exported artifact."""
    if (folder / "manifest.json").is_file():
        load_from_artifact(model, folder)
    else:
        from training.checkpoint import load_model

        load_weights(model, load_model(folder)[0].state_dict())
