"""`conflict-tagger export`: a trained model folder -> the artifact serving loads.

Steps: trace the torch model to ONNX (eager attention, so ONNX Runtime's transformer
optimizer recognises and fuses it), fuse, quantize the encoder's MatMuls to int8, check
parity on fixed texts, judge int8 by its dev accuracy against fp32, then write tokenizer,
labels, model card and a manifest holding every file's sha256. The artifact is built in a
temporary folder and moved into place only when every check passed, so a failed export
leaves nothing that could be served.
"""

from __future__ import annotations

import collections
import contextlib
import json
import shutil
import subprocess
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch

from serving.artifact import (
    FORMAT_VERSION,
    GRAPHS,
    OUTPUTS,
    REQUIRED,
    sha256_file,
    write_manifest,
)
from serving.decode import Decoded, chosen_labels
from serving.engine import Backend, Engine
from serving.heads import SEGMENT_HEADS
from serving.onnx_backend import OnnxBackend
from serving.schema import SCHEMA_VERSION
from training.backend import TorchBackend
from training.checkpoint import load_model
from training.corpus.record import Record
from training.corpus.sources import project_root
from training.int8_check import int8_accuracy, log_int8_accuracy
from training.model import MultiTaskModel


class ExportError(RuntimeError):
    """The export ran but its result must not be used (parity out of tolerance)."""


@dataclass(frozen=True)
class ExportOptions:
    tolerance: float = 1e-3  # max |fp32 ONNX - torch| over every logit of the parity texts
    # fp16-stored weights vs full fp32: shared / all decoded spans, and labels. For int8
    # the same figures are recorded, as information only.
    min_agreement: float = 0.99
    per_channel: bool = True  # one int8 scale per output column of a weight matrix
    # 7-bit weights: avoids the int16 overflow of u8 x s8 products on CPUs without VNNI
    # (AVX2, as here); costs a little precision on VNNI CPUs.
    reduce_range: bool = True
    opset: int = 17
    int8: bool = True  # also write the dynamic int8 graph (served only where accepted)
    # "fp16": store the fp32 graph's weights as fp16 (half the file; ONNX Runtime folds
    # them back to fp32 when it loads the graph), kept only if decoding agrees with the
    # full-precision graph on min_agreement of spans and labels. For artifacts that live
    # in git (models/), where every file must stay under 100 MB.
    weights: Literal["fp32", "fp16"] = "fp32"
    # int8 is served only if its main dev figure is within this of fp32's on every dev
    # collection (0.005: half a point of F1). Span agreement with fp32 is not the test: a
    # model unsure near its thresholds flips many spans both ways at no cost in F1.
    max_f1_diff: float = 0.005


# Collection -> dataset group of data/manifest.yaml, whose licence the model inherits.
DATASET_OF = {
    "re3d": "re3d/original", "re3d_conflibert": "re3d/conflibert_split", "muc4": "muc4",
    "cameo_ner": "cameo/ner", "cameo_class": "cameo/class", "satp": "satp",
    "insightcrime": "insightcrime", "ipe": "indiapoliceevents",
    "ipe_conflibert_sents": "indiapoliceevents/conflibert_sents",
    "ipe_conflibert_docs": "indiapoliceevents/conflibert_docs", "plover": "plover",
}  # fmt: skip

# Collections whose texts this project wrote.
OUR_COLLECTIONS = {"rare_events": "rare-event sentences", "written": "news",
                   "written_penta": "PentaClass sentences"}  # fmt: skip


def parity_texts(root: Path | None = None) -> list[str]:
    """Fixed texts we wrote ourselves: the sample article (several windows) and the
    hand-annotated rare-event sentences."""
    root = root or project_root()
    texts = [(root / "data" / "samples" / "article.txt").read_text(encoding="utf-8")]
    with (root / "data" / "rare_events" / "dev.jsonl").open(encoding="utf-8") as f:
        texts += [json.loads(line)["text"] for line in f if line.strip()]
    return texts


class _Outputs(torch.nn.Module):
    """The model with its outputs as a tuple in OUTPUTS order (what ONNX export needs)."""

    def __init__(self, model: MultiTaskModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, shape_ids: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        out = self.model(input_ids, attention_mask, shape_ids)
        return tuple(out[name] for name in OUTPUTS)


class _Recorder:
    """A backend wrapper that keeps every batch it saw, to replay it on another backend."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.calls: list[tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray,
        shape_ids: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        shapes = np.zeros_like(input_ids) if shape_ids is None else shape_ids
        out = self.backend(input_ids, attention_mask, shapes)
        self.calls.append((input_ids, attention_mask, shapes, out))
        return out


def to_onnx(model: MultiTaskModel, path: Path, opset: int) -> None:
    """Trace with the TorchScript exporter and eager attention: the dynamo exporter's and
    SDPA's graphs are correct too, but ONNX Runtime fuses neither (measured with MiniLM:
    0 Attention nodes against 6)."""
    encoder = cast(Any, model.encoder)
    before = encoder.config._attn_implementation
    encoder.set_attn_implementation("eager")
    ids = torch.tensor([[2, 5, 6, 7, 3], [2, 8, 3, 0, 0]])
    mask = (ids != 0).long()
    shapes = torch.tensor([[0, 1, 2, 3, 0], [0, 4, 0, 0, 0]])
    inputs = ("input_ids", "attention_mask", "shape_ids")
    axes = {name: {0: "batch", 1: "sequence"} for name in (*inputs, *OUTPUTS)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
            torch.onnx.export(
                _Outputs(model).eval(), (ids, mask, shapes), str(path), input_names=list(inputs),
                output_names=list(OUTPUTS), dynamic_axes=axes,
                opset_version=opset, dynamo=False,
            )  # fmt: skip
    finally:
        encoder.set_attn_implementation(before)
        model.eval()


def optimize(raw: Path, out: Path, heads: int, hidden: int) -> dict[str, int]:
    """ONNX Runtime's transformer fusions (attention, embedding + LayerNorm, skip
    LayerNorm, bias GELU); returns how many of each fused node the graph holds."""
    from onnxruntime.transformers.optimizer import optimize_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimized = optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=hidden)
    optimized.save_model_to_file(str(out))
    stats = optimized.get_fused_operator_statistics()
    return {k: int(v) for k, v in stats.items() if v}


def head_nodes(graph: Path) -> list[str]:
    """The MatMul nodes of the output heads (the last MatMul before each output): kept in
    fp32, as they are tiny and their rounding would move label scores directly."""
    import onnx

    nodes = onnx.load(str(graph), load_external_data=False).graph.node
    producer = {out: n for n in nodes for out in n.output}
    found: list[str] = []
    for output in OUTPUTS:
        frontier = [output]
        while frontier:
            node = producer.get(frontier.pop())
            if node is None:
                continue
            if node.op_type == "MatMul":
                found.append(node.name)
            else:
                frontier += list(node.input)
    return sorted(set(found))


def quantize(fp32: Path, out: Path, options: ExportOptions) -> dict[str, Any]:
    """Dynamic int8 quantization of the encoder's MatMuls and fused attention."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    excluded = head_nodes(fp32)
    quantize_dynamic(
        str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=options.per_channel,
        reduce_range=options.reduce_range, op_types_to_quantize=["MatMul", "Attention"],
        nodes_to_exclude=excluded,
        # Fused nodes (com.microsoft domain) defeat ONNX shape inference; their outputs
        # are float.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )  # fmt: skip
    return {
        "method": "dynamic", "weight_type": "int8", "per_channel": options.per_channel,
        "reduce_range": options.reduce_range, "kept_fp32": excluded,
        "nodes": op_counts(out, ("MatMulInteger", "QAttention", "DynamicQuantizeLinear")),
    }  # fmt: skip


def op_counts(graph: Path, ops: Sequence[str] | None = None) -> dict[str, int]:
    import onnx

    counts = collections.Counter(n.op_type for n in onnx.load(str(graph)).graph.node)
    return {k: v for k, v in sorted(counts.items()) if ops is None or k in ops}


def decoded_items(results: Sequence[Decoded], thresholds: dict[str, float]) -> dict[str, set[Any]]:
    """Everything a user sees, as comparable items: spans, and labels per head."""
    spans, labels = set(), set()
    for i, d in enumerate(results):
        spans |= {(i, "entity", s.start, s.end, s.label) for s in d.entities}
        spans |= {(i, "role", s.start, s.end, s.label) for s in d.roles}
        for head in SEGMENT_HEADS:
            labels |= {(i, head.name, lab) for lab in chosen_labels(
                head.name, d.document[head.name], thresholds)}  # fmt: skip
    return {"spans": spans, "labels": labels}


def agreement(a: set[Any], b: set[Any]) -> float:
    """Shared items over all items (1.0 when both are empty)."""
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def decoded_agreement(
    engine_parts: tuple[Any, Any], a: Path, b: Path, texts: Sequence[str],
    thresholds: dict[str, float],
) -> tuple[float, float, int, int]:  # fmt: skip
    """Span and label agreement of what decoding makes of two graphs' outputs, and how
    many spans and labels the first graph gave."""
    tokenizer, settings = engine_parts
    items_a = decoded_items(Engine(tokenizer, OnnxBackend(a), settings).run(texts), thresholds)
    items_b = decoded_items(Engine(tokenizer, OnnxBackend(b), settings).run(texts), thresholds)
    return (
        agreement(items_a["spans"], items_b["spans"]),
        agreement(items_a["labels"], items_b["labels"]),
        len(items_a["spans"]),
        len(items_a["labels"]),
    )


def check_parity(
    model: MultiTaskModel, engine_parts: tuple[Any, Any], fp32: Path, int8: Path | None,
    texts: Sequence[str], thresholds: dict[str, float], options: ExportOptions,
) -> dict[str, Any]:  # fmt: skip
    """fp32 ONNX vs torch on raw logits (out of tolerance: the export fails), and, as
    information, how often int8 and fp32 decode the same spans and labels (whether int8 is
    served is `int8_accuracy`'s decision)."""
    tokenizer, settings = engine_parts
    recorder = _Recorder(TorchBackend(model))
    Engine(tokenizer, recorder, settings).run(texts)
    onnx_fp32 = OnnxBackend(fp32)
    worst = 0.0
    for ids, mask, shapes, expected in recorder.calls:
        got = onnx_fp32(ids, mask, shapes)
        keep = mask.astype(bool)
        for name in OUTPUTS:
            worst = max(worst, float(np.abs(got[name] - expected[name])[keep].max()))
    report: dict[str, Any] = {
        "texts": len(texts), "tokens": int(sum(c[1].sum() for c in recorder.calls)),
        "fp32_max_abs_diff": worst, "tolerance": options.tolerance,
        "min_agreement": options.min_agreement,
    }  # fmt: skip
    if worst > options.tolerance:
        raise ExportError(
            f"parity check failed: fp32 ONNX differs from torch by {worst:.2e} > "
            f"{options.tolerance:.0e} on {len(texts)} parity texts; nothing was written"
        )
    if int8 is None:
        return report
    spans, labels, n_spans, n_labels = decoded_agreement(
        engine_parts, fp32, int8, texts, thresholds
    )
    report |= {
        "int8_span_agreement": spans, "int8_label_agreement": labels,
        "spans": n_spans, "labels": n_labels,
    }  # fmt: skip
    return report


def store_fp16(fp32: Path, out: Path, min_elements: int = 1024) -> int:
    """`fp32` with every large float initializer stored as fp16 behind a Cast to fp32.

    The graph still computes in fp32: ONNX Runtime's constant folding turns each Cast of
    an initializer back into an fp32 initializer when it loads the graph. Returns how many
    initializers were stored as fp16.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(fp32))
    graph = model.graph
    kept, casts, converted = [], [], 0
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            kept.append(init)
            continue
        half = numpy_helper.from_array(
            numpy_helper.to_array(init).astype(np.float16), init.name + "__fp16"
        )
        kept.append(half)
        casts.append(
            helper.make_node(
                "Cast",
                [half.name],
                [init.name],
                name=init.name + "__upcast",
                to=onnx.TensorProto.FLOAT,
            )
        )
        converted += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = [*casts, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(out))
    return converted


def dev_curve(model_dir: Path) -> list[dict[str, Any]]:
    """Mean dev score per epoch from the run's log (RUN/metrics.jsonl beside RUN/model),
    after the curve of the run it started from (`model.init_from`: a run's model folder,
    or an exported artifact, whose manifest holds its own curve), each named by its run."""
    meta = json.loads((model_dir / "training.json").read_text(encoding="utf-8"))
    merged = meta.get("merged", {})
    # A merged model (training/merge.py) continues its base's curve; an average with a
    # stage trained from the base (`average_segment`) also shows that stage's epochs.
    start = merged.get("base") or meta.get("config", {}).get("model", {}).get("init_from")
    earlier: list[dict[str, Any]] = []
    if start:
        folder = _rooted(Path(start))
        if (folder / "training.json").is_file():
            earlier = dev_curve(folder)
        elif (folder / "manifest.json").is_file():
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            earlier = list(manifest.get("training", {}).get("curve", []))
    if merged.get("average_segment"):
        stages = [Path(s["model"]) for s in merged["specialists"]]
        return earlier + [e for s in stages for e in _run_epochs(_rooted(s))]
    return earlier + _run_epochs(model_dir)


def _rooted(path: Path) -> Path:
    return path if path.is_absolute() else project_root() / path


def _run_epochs(model_dir: Path) -> list[dict[str, Any]]:
    """The run's own epochs (RUN/metrics.jsonl), named by the run; none for a merge."""
    log = model_dir.parent / "metrics.jsonl"
    if not log.is_file():
        return []
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    run = model_dir.parent.name
    return [{"run": run, "epoch": e["epoch"], "dev_score": e["dev_score"]} for e in entries]


def code_version() -> dict[str, str]:
    out = {"package": metadata.version("conflict-tagger")}
    with contextlib.suppress(OSError, subprocess.SubprocessError):  # not a checkout
        out["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project_root(), capture_output=True, text=True,
            check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    return out


def licences(trained_on: Sequence[str]) -> list[str]:
    """The licence notes of every dataset whose text the model trained on."""
    from training.corpus.fetch import load_manifest
    from training.corpus.weak_labels import SOURCE_COLLECTIONS

    names = set(trained_on)
    if "weak_events" in names:  # sentences of other corpora, relabelled by rules
        names |= set(SOURCE_COLLECTIONS)
    by_dataset = {
        e.dataset: e.licence for e in load_manifest(project_root() / "data" / "manifest.yaml")
    }
    out = sorted(
        {f"{DATASET_OF[n]}: {by_dataset[DATASET_OF[n]]}" for n in names if n in DATASET_OF}
    )
    out += [f"{n} (data/{n}, {what}, written for this project): Apache-2.0"
            for n, what in OUR_COLLECTIONS.items() if n in names]  # fmt: skip
    if "corrections" in names:
        out.append("corrections (your own annotations, imported by `retrain`): your terms")
    return out


def export(
    model_dir: Path, out_dir: Path, options: ExportOptions = ExportOptions(),
    texts: Sequence[str] | None = None, log: Callable[[str], None] = print,
    lineage: dict[str, Any] | None = None, dev: Mapping[str, Sequence[Record]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Write the artifact for `model_dir` into `out_dir` (which must not exist yet);
    `lineage` (parent model, data added: from `retrain`) goes into the manifest and card.
    `dev`: the records int8 is judged on ({collection: records}); default: the model's
    own dev collections, read from its datasets folder."""
    from training.model_card import model_card, trained_collections

    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(
            f"{out_dir} already exists and is not empty: artifacts are never overwritten; "
            "choose a new folder"
        )
    started = time.perf_counter()
    model, tokenizer, settings, meta = load_model(model_dir)
    enc = cast(Any, model.encoder).config
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        raw = staging / "raw.onnx"
        to_onnx(model, raw, options.opset)
        fused = optimize(raw, staging / GRAPHS["fp32"], enc.num_attention_heads, enc.hidden_size)
        raw.unlink()
        log(f"fused: {', '.join(f'{k} {v}' for k, v in fused.items())}")
        int8 = staging / GRAPHS["int8"] if options.int8 else None
        quant: dict[str, Any] = {"method": "none"}
        if int8 is not None:
            quant = quantize(staging / GRAPHS["fp32"], int8, options)
            log(f"int8: {', '.join(f'{k} {v}' for k, v in quant['nodes'].items())}")
        thresholds = dict(meta.get("thresholds", {}))
        parts = (tokenizer, settings)
        texts = texts if texts is not None else parity_texts()
        parity = check_parity(
            model, parts, staging / GRAPHS["fp32"], int8, texts, thresholds, options
        )
        log(f"parity: fp32 max |diff| {parity['fp32_max_abs_diff']:.1e}")
        if int8 is not None:
            log(
                f"int8 agreement {parity['int8_span_agreement']:.2%} of spans, "
                f"{parity['int8_label_agreement']:.2%} of labels (information only)"
            )
        storage: dict[str, Any] = {"weights": options.weights}
        if options.weights == "fp16":
            full = staging / "full.onnx"
            (staging / GRAPHS["fp32"]).rename(full)
            storage["fp16_initializers"] = store_fp16(full, staging / GRAPHS["fp32"])
            spans, labels, _, _ = decoded_agreement(
                parts, full, staging / GRAPHS["fp32"], texts, thresholds
            )
            full.unlink()
            storage |= {"span_agreement": spans, "label_agreement": labels}
            log(f"fp16 weights: agreement {spans:.2%} of spans, {labels:.2%} of labels")
            if min(spans, labels) < options.min_agreement:
                raise ExportError(
                    f"fp16-stored weights agree with fp32 on {spans:.2%} of spans and "
                    f"{labels:.2%} of labels, below {options.min_agreement:.0%}: export with "
                    "--weights fp32; nothing was written"
                )
        # Judged on the graphs that will be served (fp32 possibly with fp16-stored weights).
        parity["int8_accepted"] = False
        if int8 is not None:
            accuracy = int8_accuracy(
                parts, staging / GRAPHS["fp32"], int8, meta["config"], thresholds,
                options.max_f1_diff, dev,
            )  # fmt: skip
            parity |= {"int8_accuracy": accuracy, "int8_accepted": accuracy["accepted"]}
            log_int8_accuracy(accuracy, log)
        quant["accepted"] = parity["int8_accepted"]
        shutil.copyfile(model_dir / "tokenizer.json", staging / "tokenizer.json")
        shutil.copyfile(model_dir / "labels.json", staging / "labels.json")
        config = meta["config"]
        weights = sha256_file(model_dir / "weights.pt")
        created = time.gmtime()
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION, "name": "conflict-tagger",
            "version": time.strftime("%Y%m%dT%H%M%S", created) + "-" + weights[:8],
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", created),
            "code_version": code_version(), "schema_version": SCHEMA_VERSION,
            "base_encoder": {
                "name": config["model"]["encoder"], "model_type": enc.model_type,
                "layers": enc.num_hidden_layers, "hidden_size": enc.hidden_size,
                "heads": enc.num_attention_heads,
            },
            "training": {
                "source": str(model_dir), "weights_sha256": weights, "config": config,
                "config_sha256": meta["config_sha256"],
                "data_fingerprint": meta.get("data_fingerprint", ""), "epoch": meta.get("epoch"),
                "curve": dev_curve(model_dir),
                **({"merged": meta["merged"]} if "merged" in meta else {}),
            },
            "metrics": {"dev": meta.get("dev", {}), "dev_score": meta.get("dev_score")},
            "windows": {
                "size": settings.window_size, "stride": settings.window_stride,
                "document_pooling": settings.document_pooling,
            },
            "thresholds": thresholds, "outputs": list(OUTPUTS),
            "graphs": {k: v for k, v in GRAPHS.items() if k == "fp32" or int8 is not None},
            "weights_storage": storage, "fusions": fused, "quantization": quant,
            "parity": parity, "export_options": asdict(options),
            "licences": licences(trained_collections(meta)),
        }  # fmt: skip
        if lineage is not None:
            manifest["lineage"] = lineage
        (staging / "README.md").write_text(model_card(manifest), encoding="utf-8")
        manifest = write_manifest(staging, manifest, [*REQUIRED, *manifest["graphs"].values()])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out_dir.exists():
        out_dir.rmdir()  # empty, checked above
    staging.rename(out_dir)
    log(f"artifact {manifest['version']} in {out_dir} ({time.perf_counter() - started:.0f} s)")
    return manifest
