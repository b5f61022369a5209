"""The ONNX Runtime backend: input_ids, attention_mask -> named logits, on the CPU."""

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

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        values = self.session.run(list(OUTPUTS), feeds)
        return dict(zip(OUTPUTS, values, strict=True))
