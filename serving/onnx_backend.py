"""The ONNX Runtime backend: input_ids, attention_mask, shape_ids -> named logits, on the
CPU."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import onnxruntime as ort

from serving.artifact import OUTPUTS

# Ops that quantize activations at run time (onnxruntime's quantize_dynamic writes them).
DYNAMIC_INT8_OPS = (b"DynamicQuantizeLinear", b"MatMulInteger")


def dynamic_int8(graph: Path | str) -> bool:
    """Whether a graph quantizes its activations at run time, read without the onnx package
    (not a serving dependency): op types are plain strings in the protobuf. A false
    positive would only cost speed (rows run alone), never change a result."""
    with open(graph, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return any(data.find(op) >= 0 for op in DYNAMIC_INT8_OPS)


class OnnxBackend:
    """`rows_alone`: run each row by itself, cut to its attention mask, instead of the
    whole batch. Dynamic int8 picks one activation scale per tensor per call, so a batched
    row's logits depend on the other rows and on padding; alone, a document's tags depend
    only on the document. None (default): on for dynamic int8 graphs, off otherwise (fp32
    is batch-independent up to float rounding, and batches are faster)."""

    def __init__(
        self, graph: Path | str, threads: int | None = None, arena: bool = True,
        rows_alone: bool | None = None,
    ) -> None:  # fmt: skip
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.enable_cpu_mem_arena = arena
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        # Graphs exported before word shapes (serving.shapes) take no shape_ids.
        self.cased = "shape_ids" in {i.name for i in self.session.get_inputs()}
        self.rows_alone = dynamic_int8(graph) if rows_alone is None else rows_alone

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray,
        shape_ids: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        shapes = np.zeros_like(input_ids) if shape_ids is None else shape_ids
        if not self.rows_alone or not len(input_ids):
            return self._run(input_ids, attention_mask, shapes)
        length = input_ids.shape[1]
        rows = []
        for r in range(len(input_ids)):
            kept = np.flatnonzero(attention_mask[r])
            n = int(kept[-1]) + 1 if len(kept) else length
            alone = (input_ids[r : r + 1, :n], attention_mask[r : r + 1, :n], shapes[r : r + 1, :n])
            rows.append(self._run(*alone))
        # Padding positions get zeros: callers read only the positions the mask keeps.
        return {name: np.concatenate([_pad(row[name], length) for row in rows]) for name in OUTPUTS}

    def _run(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, shape_ids: np.ndarray
    ) -> dict[str, np.ndarray]:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.cased:
            feeds["shape_ids"] = shape_ids
        values = self.session.run(list(OUTPUTS), feeds)
        return dict(zip(OUTPUTS, values, strict=True))


def _pad(values: np.ndarray, length: int) -> np.ndarray:
    """[1, n, ...] -> [1, length, ...] with zeros after position n."""
    widths = [(0, 0)] * values.ndim
    widths[1] = (0, length - values.shape[1])
    return np.pad(values, widths)
