"""The torch backend: the same inputs -> named numpy outputs contract as ONNX Runtime's."""

from __future__ import annotations

import numpy as np
import torch

from training.model import MultiTaskModel


class TorchBackend:
    def __init__(self, model: MultiTaskModel) -> None:
        self.model = model

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray,
        shape_ids: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        shapes = None if shape_ids is None else torch.from_numpy(shape_ids)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                out = self.model(
                    torch.from_numpy(input_ids), torch.from_numpy(attention_mask), shapes
                )
        finally:
            self.model.train(was_training)
        return {k: v.float().numpy() for k, v in out.items()}
