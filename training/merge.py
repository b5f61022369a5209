"""Fold specialists back into the model they were fine-tuned from (task arithmetic).

A specialist is the release fine-tuned on one dataset alone, on that dataset's own
schedule, with the release as teacher of what the dataset does not mark
(configs/specialist.yaml). The merged model is the base plus `scale` times the sum of
the specialists' weight changes (Ilharco et al. 2023, "Editing models with task
arithmetic"), except the segment head, whose rows each come whole from the specialist
that owns them, or, for a later stage of the full recipe (`average_segment`), scaled like
the rest: scale 0.5 is then the average of two models' weights (a "model soup", Wortsman
et al. 2022). The base may be an exported artifact (its graph's weights read back).
Measured on dev (benchmarks/accuracy_notes.md): the encoder changes carry
the gains (the specialists' heads alone gave nothing), specialists trained without the
teacher cost the entity tasks up to 16 points, and several at full scale interfere.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from serving.heads import SEGMENT_SLICES
from training.checkpoint import WEIGHTS, read_weights, update_meta
from training.model_card import trained_collections

State = dict[str, torch.Tensor]
COPIED = ("encoder_config.json", "labels.json", "tokenizer.json", "training.json")


@dataclass(frozen=True)
class Specialist:
    folder: Path
    heads: tuple[str, ...]  # the segment heads taken whole from it

    @classmethod
    def parse(cls, text: str) -> Specialist:
        """`runs/NAME/model[=head,head]`: a specialist and the segment heads it owns."""
        folder, _, heads = text.partition("=")
        names = tuple(h.strip() for h in heads.split(",") if h.strip())
        if not folder:
            raise ValueError(f"specialist {text!r}: write FOLDER[=HEAD,HEAD], e.g. "
                             "runs/lwf-ipe/model=ipe")  # fmt: skip
        unknown = sorted(set(names) - set(SEGMENT_SLICES))
        if unknown:
            raise ValueError(f"specialist {text!r}: no segment head {unknown}; "
                             f"heads are {list(SEGMENT_SLICES)}")  # fmt: skip
        return cls(Path(folder), names)


def merged_weights(
    base: State,
    specialists: Sequence[tuple[State, Sequence[str]]],
    scale: float,
    average_segment: bool = False,
) -> State:
    """base + scale * sum(specialist - base) over everything but the segment head, whose
    rows each come from the specialist that owns them (the base's where none does, or
    scaled like the rest with `average_segment`)."""
    out = {k: v.detach().clone().float() for k, v in base.items()}
    for state, _heads in specialists:
        if state.keys() != base.keys():
            raise ValueError("a specialist's weights do not fit the base model's")
        for key, value in state.items():
            if not key.startswith("segment.") or average_segment:
                out[key] += scale * (value.float() - base[key].float())
    for state, heads in specialists:
        for key in (k for k in state if k.startswith("segment.")):
            for head in heads:
                out[key][SEGMENT_SLICES[head]] = state[key][SEGMENT_SLICES[head]].float()
    return {k: v.to(base[k].dtype) for k, v in out.items()}


def base_weights(base: Path, like: Path) -> State:
    """A model folder's weights, or an exported artifact's read back from its graph (into
    the architecture of the model folder `like`)."""
    if not (base / "manifest.json").is_file():
        return read_weights(base)
    from training.artifact_weights import load_from_artifact
    from training.checkpoint import load_model

    model = load_model(like)[0]
    load_from_artifact(model, base)
    return model.state_dict()


def merge(
    base: Path, specialists: Sequence[Specialist], scale: float, output: Path,
    average_segment: bool = False, mean: bool = False,
) -> None:  # fmt: skip
    """Write the merged model folder; its training.json is the base's (the first
    specialist's when the base is an artifact) plus how it was merged; `conflict-tagger
    merge` then retunes its thresholds on every dev record. `mean`: scale the specialists'
    mean change, not their sum (scale 1 is then the soup of the specialists)."""
    if not specialists:
        raise ValueError("name at least one specialist to merge")
    if mean:
        scale /= len(specialists)
    if output.resolve() == base.resolve():
        raise ValueError(f"{output} is the base model; write the merged model elsewhere")
    states = [(read_weights(s.folder), s.heads) for s in specialists]
    weights = merged_weights(base_weights(base, specialists[0].folder), states, scale,
                             average_segment)  # fmt: skip
    output.mkdir(parents=True, exist_ok=True)
    files_from = specialists[0].folder if (base / "manifest.json").is_file() else base
    for name in COPIED:
        shutil.copyfile(files_from / name, output / name)
    torch.save(weights, output / WEIGHTS)

    def described(s: Specialist) -> dict[str, object]:
        meta = json.loads((s.folder / "training.json").read_text(encoding="utf-8"))
        return {"model": str(s.folder), "heads": list(s.heads), "dev_score": meta.get("dev_score"),
                "trained_on": trained_collections(meta)}  # fmt: skip

    merged = {"base": str(base), "scale": scale, "average_segment": average_segment,
              "mean": mean, "specialists": [described(s) for s in specialists]}  # fmt: skip
    if files_from != base:
        _widen_dev(output, base)
    earlier = json.loads((output / "training.json").read_text(encoding="utf-8")).get("merged")
    if earlier and files_from == base:  # the base was a merge: keep its record too
        merged["base_merged"] = earlier
    update_meta(output, {"merged": merged})


def _widen_dev(output: Path, artifact: Path) -> None:
    """The merged config copied from a specialist lists only its own dev collections; add
    the base artifact's, so that retuning sets every head's threshold the base had (a
    head-only specialist would otherwise leave the others at the default)."""
    from serving.artifact import verify

    config = json.loads((output / "training.json").read_text(encoding="utf-8"))["config"]
    base_dev = verify(artifact).manifest["training"]["config"]["data"]["dev"]
    config["data"]["dev"] = list(dict.fromkeys([*base_dev, *config["data"]["dev"]]))
    update_meta(output, {"config": config})


def record_dev(folder: Path) -> float:
    """Put the merged model's own dev figures (every dev record, its retuned thresholds) in
    place of the base's copied ones, so its card shows what it scores; returns the mean."""
    meta = json.loads((folder / "training.json").read_text(encoding="utf-8"))
    figures = meta["dev_with_thresholds"]
    score = round(float(sum(f["main"] for f in figures.values())) / max(len(figures), 1), 4)
    update_meta(folder, {"dev": figures, "dev_score": score, "epoch": None})
    return score
