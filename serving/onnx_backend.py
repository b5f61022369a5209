"""The ONNX Runtime backend: input_ids, attention_mask, shape_ids -> named logits, on the
CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from serving.artifact import OUTPUTS


class OnnxBackend:
    def __init__(self, graph: Path | str, threads: int | None = None, arena: bool = True) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.enable_cpu_mem_arena = arena
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        # Graphs exported before word shapes (serving.shapes) take no shape_ids.
        self.cased = "shape_ids" in {i.name for i in self.session.get_inputs()}

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray,
        shape_ids: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.cased:
            feeds["shape_ids"] = np.zeros_like(input_ids) if shape_ids is None else shape_ids
        values = self.session.run(list(OUTPUTS), feeds)
        return dict(zip(OUTPUTS, values, strict=True))
