"""Can any int8 graph of a model pass the export's agreement bar, and at what speed?

`python -m benchmarks.int8_variants --artifact runs/default/artifact [--time]` quantizes the
artifact's fp32 graph several ways, scores each against it exactly as `conflict-tagger
export` does (the same parity texts, thresholds, decoding and agreement), at the engine's
batch budget and at 8192 (dynamic int8 takes one activation scale per batch, so its output
moves with the batch), and with `--time` tags the short benchmark corpus with each (one
process, runs interleaved so every graph sees the same load; median of `--runs`). It writes
a Markdown table (`--out`). The graph files go to `--work` and are not kept in git.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.http_load import read_texts
from serving.artifact import verify
from serving.engine import BATCH_TOKENS, Engine
from serving.onnx_backend import OnnxBackend
from training.export import (
    ExportOptions,
    agreement,
    decoded_items,
    head_nodes,
    parity_texts,
    quantize,
)

Build = Callable[[Path, Path], None]


def _dynamic(only: str | None = None, ops: tuple[str, ...] = ("MatMul", "Attention")) -> Build:
    """quantize_dynamic as export does, optionally only on MatMuls whose name has `only`."""

    def build(fp32: Path, out: Path) -> None:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        nodes = onnx.load(str(fp32), load_external_data=False).graph.node
        keep = head_nodes(fp32) + [
            n.name for n in nodes if n.op_type == "MatMul" and only and only not in n.name
        ]
        quantize_dynamic(
            str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
            reduce_range=True, op_types_to_quantize=list(ops), nodes_to_exclude=keep,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )  # fmt: skip

    return build


def _export_int8(fp32: Path, out: Path) -> None:
    quantize(fp32, out, ExportOptions())


def _nbits(fp32: Path, out: Path) -> None:
    """8-bit weights in blocks of 128, int8 compute (MatMulNBits, accuracy level 4)."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    config = DefaultWeightOnlyQuantConfig(
        block_size=128, is_symmetric=True, accuracy_level=4, bits=8,
        op_types_to_quantize=("MatMul",),
    )  # fmt: skip
    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(fp32)), bits=8, block_size=128, is_symmetric=True, accuracy_level=4,
        nodes_to_exclude=head_nodes(fp32), algo_config=config, op_types_to_quantize=("MatMul",),
    )  # fmt: skip
    quantizer.process()
    quantizer.model.save_model_to_file(str(out), False)


def _rounded(kind: str) -> Build:
    """The fp32 graph with the encoder's weights rounded to fp16 or bf16 and stored as
    fp32: what weight precision alone does, with no quantized arithmetic."""

    def build(fp32: Path, out: Path) -> None:
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(fp32))
        heads = set(head_nodes(fp32))
        weights = {
            name for n in model.graph.node
            if n.op_type in ("MatMul", "Attention") and n.name not in heads for name in n.input
        }  # fmt: skip
        for init in model.graph.initializer:
            if init.name in weights and init.data_type == onnx.TensorProto.FLOAT:
                w = numpy_helper.to_array(init)
                init.CopyFrom(numpy_helper.from_array(_round(w, kind), init.name))
        onnx.save(model, str(out))

    return build


def _round(w: np.ndarray, kind: str) -> np.ndarray:
    if kind == "fp16":
        return w.astype(np.float16).astype(np.float32)
    bits = w.astype(np.float32).view(np.uint32)
    even = (bits >> 16) & 1  # round to nearest, ties to even
    return ((bits + 0x7FFF + even) & 0xFFFF0000).astype(np.uint32).view(np.float32)


VARIANTS: dict[str, Build] = {
    "dynamic int8, as exported (MatMul + attention, per-channel, 7-bit)": _export_int8,
    "dynamic int8, FFN up-projections only": _dynamic(only="intermediate", ops=("MatMul",)),
    "dynamic int8, attention only": _dynamic(ops=("Attention",)),
    "MatMulNBits 8-bit weights, block 128, int8 compute": _nbits,
    "fp32 graph, weights rounded to bf16": _rounded("bf16"),
    "fp32 graph, weights rounded to fp16": _rounded("fp16"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", type=Path, default=Path("runs/default/artifact"))
    parser.add_argument("--work", type=Path, default=Path("data/work/int8_variants"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/int8_variants.md"))
    parser.add_argument("--time", action="store_true", help="also time each graph")
    parser.add_argument("--corpus", type=Path, default=Path("data/work/bench/short.jsonl"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the quantizers log every node
    artifact = verify(args.artifact)
    fp32 = artifact.graph("fp32")
    args.work.mkdir(parents=True, exist_ok=True)
    graphs = {"fp32 (reference)": fp32}
    for i, (name, build) in enumerate(VARIANTS.items()):
        graphs[name] = args.work / f"variant{i}.onnx"
        build(fp32, graphs[name])
        print(f"built {name}", flush=True)

    texts = parity_texts()
    thresholds, tokenizer = artifact.thresholds, artifact.tokenizer()
    rows: dict[str, list[str]] = {name: [] for name in graphs}
    for budget in (BATCH_TOKENS, 8192):
        settings = artifact.settings(budget)
        items = {
            name: decoded_items(Engine(tokenizer, OnnxBackend(g), settings).run(texts), thresholds)
            for name, g in graphs.items()
        }
        ref = items["fp32 (reference)"]
        for name, got in items.items():
            rows[name] += [f"{agreement(ref[k], got[k]):.1%}" for k in ("spans", "labels")]
    header = [f"{k} at {b} tokens" for b in (BATCH_TOKENS, 8192) for k in ("spans", "labels")]
    if args.time:
        header += ["short docs/s", "vs fp32"]
        corpus = read_texts(args.corpus, None)
        engines = {
            name: Engine(tokenizer, OnnxBackend(g, args.threads), artifact.settings())
            for name, g in graphs.items()
        }
        seconds: dict[str, list[float]] = {name: [] for name in graphs}
        for engine in engines.values():
            engine.run(corpus[:8])  # warm-up
        for _ in range(args.runs):
            for name, engine in engines.items():
                start = time.perf_counter()
                engine.run(corpus)
                seconds[name].append(time.perf_counter() - start)
        speed = {name: len(corpus) / statistics.median(s) for name, s in seconds.items()}
        for name in graphs:
            rows[name] += [f"{speed[name]:.0f}", f"{speed[name] / speed['fp32 (reference)']:.2f}x"]
    lines = [
        "# int8 variants",
        "",
        f"Made by `python -m benchmarks.int8_variants{' --time' if args.time else ''}` on "
        f"{time.strftime('%Y-%m-%d')}"
        + (
            f": {args.threads} threads, {args.corpus}, median of {args.runs} interleaved runs."
            if args.time
            else "."
        ),
        "",
        f"Agreement with the fp32 graph of `{artifact.version}` on the export's "
        f"{len(texts)} parity texts (the bar is {ExportOptions().min_agreement:.0%} of both).",
        "",
        "| graph | " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(header),
        *(f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows.items()),
    ]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":  # pragma: no cover
    main()
