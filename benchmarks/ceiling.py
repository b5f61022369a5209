"""The machine's ceiling for the encoder, measured through ONNX Runtime:

    python -m benchmarks.ceiling --artifact runs/default/artifact --threads 2 \
        [--tokens 2048] [--seq-len 128] [--repeats 20] [--json ceiling.json]

Each of the encoder's GEMMs (its own shapes, for a batch of `tokens` tokens) runs alone in a
small ONNX graph built in memory, three ways: fp32 `MatMul` by a constant weight; int8
as dynamic quantization runs it (`DynamicQuantizeLinear` on the activations, `MatMulInteger`
with constant per-channel int8 weights, `Cast` and `Mul` by the scales: what
`onnxruntime.quantization.quantize_dynamic` emits for a MatMul and what the artifact's
`model.int8.onnx` holds); and `MatMulInteger` alone on uint8 activations, the pure kernel.
The time-weighted rate over the encoder's GEMM mix (the mix's FLOPs / its time) divided by
the encoder's FLOPs per token is the tokens/s nothing running this encoder on this machine
through ONNX Runtime can beat; `Ceiling.fraction` puts a measured tokens/s against it.
Approximations, all in the limit's favour or small: the attention scores and weighted sum
(~5% of the FLOPs at seq 128) are counted at the mix's rate though they are smaller batched
matmuls, and in fp32 even in the int8 graph; the int8 graph's QKV is a QAttention, measured
here as the same-shaped dynamic-quantized GEMM; everything outside the GEMMs is left out.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

log = logging.getLogger(__name__)

OPSET = 17  # the artifact's export opset
IR_VERSION = 8  # the IR version that goes with opset 17; ORT rejects IRs newer than it knows
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
Precision = Literal["fp32", "int8"]
Graph = Literal["fp32", "int8", "int8_kernel"]


@dataclass(frozen=True)
class EncoderShape:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    vocab: int | None = None
    name: str | None = None

    @classmethod
    def from_artifact(cls, path: Path | str) -> EncoderShape:
        """From the artifact's manifest.json (`base_encoder`); the intermediate size and the
        vocabulary, which the manifest does not hold, from the fp32 graph's initializers."""
        folder = Path(path)
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        base = manifest["base_encoder"]
        hidden = int(base["hidden_size"])
        intermediate = base.get("intermediate_size")
        vocab = base.get("vocab_size")
        if intermediate is None or vocab is None:
            graph = folder / manifest.get("graphs", {}).get("fp32", "model.onnx")
            dims = _initializer_dims(graph) if graph.exists() else {}
            if intermediate is None:
                intermediate = _intermediate_from_dims(dims, hidden)
            if intermediate is None:
                intermediate = 4 * hidden
                log.warning(
                    "%s: no intermediate size in the manifest or the fp32 graph; "
                    "assuming 4 * hidden = %d",
                    folder,
                    intermediate,
                )
            if vocab is None:
                vocab = next(
                    (d[0] for n, d in dims.items() if "word_embeddings" in n and len(d) == 2), None
                )
        return cls(
            hidden=hidden,
            intermediate=int(intermediate),
            layers=int(base["layers"]),
            heads=int(base["heads"]),
            vocab=None if vocab is None else int(vocab),
            name=base.get("name"),
        )


def _initializer_dims(graph: Path) -> dict[str, tuple[int, ...]]:
    model = onnx.load(str(graph), load_external_data=False)
    return {init.name: tuple(int(d) for d in init.dims) for init in model.graph.initializer}


def _intermediate_from_dims(dims: Mapping[str, tuple[int, ...]], hidden: int) -> int | None:
    """The FFN's inner size: X such that the graph holds both an [hidden, X] weight (FFN up)
    and an [X, hidden] one (FFN down), X != hidden; the commonest if several (one pair per
    layer). Names change with export and fusion; shapes do not. Embedding tables ([vocab, h],
    [positions, h]) and heads ([h, labels]) have no partner and drop out."""
    shapes = {d for d in dims.values() if len(d) == 2}
    counts = Counter(
        d[1]
        for d in dims.values()
        if len(d) == 2 and d[0] == hidden and d[1] != hidden and (d[1], hidden) in shapes
    )
    return counts.most_common(1)[0][0] if counts else None


def flops_per_token(shape: EncoderShape, seq_len: int) -> float:
    """The encoder's FLOPs per token (2 per multiply-add) at sequence length `seq_len`:
    per layer the Q, K, V and output projections (4·h²), the FFN (2·h·i) and the attention
    scores and weighted sum (2·seq·h) multiply-adds, times 2, times the layers.
    Left out, all small next to these: softmax, LayerNorm, GELU, biases and residual adds
    (O(h), O(i) or O(seq·heads) per token), the embeddings (lookups) and the task heads
    (h·labels, about 1% of one layer here)."""
    h, i = shape.hidden, shape.intermediate
    return 2.0 * shape.layers * (4 * h * h + 2 * h * i + 2 * seq_len * h)


class Gemm(NamedTuple):
    """A[m, k] x B[k, n], `per_layer` times per layer."""

    name: str
    m: int
    k: int
    n: int
    per_layer: int

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.k * self.n

    @property
    def label(self) -> str:
        return f"{self.m}x{self.k}x{self.n}"


def gemms(shape: EncoderShape, tokens: int) -> list[Gemm]:
    """The encoder's weight GEMMs for a batch of `tokens` tokens, per layer. QKV is fused as
    ORT's Attention runs it ([tokens, h] x [h, 3h]). The attention scores and weighted sum
    (per head [seq, d] x [d, seq] and [seq, seq] x [seq, d]) are not GEMMs of the weights
    and are not measured: the limit assumes they run at the mix's rate."""
    h, i = shape.hidden, shape.intermediate
    return [
        Gemm("QKV", tokens, h, 3 * h, 1),
        Gemm("attention output", tokens, h, h, 1),
        Gemm("FFN up", tokens, h, i, 1),
        Gemm("FFN down", tokens, i, h, 1),
    ]


# --- graphs ------------------------------------------------------------------------------


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    weights: list[onnx.TensorProto],
) -> bytes:
    graph = helper.make_graph(nodes, "gemm", inputs, outputs, initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def fp32_matmul_graph(b: np.ndarray) -> bytes:
    """Y[M, N] = A[M, K] @ B, B a constant (an initializer, as the encoder's weights are)."""
    k, n = b.shape
    return _model(
        [helper.make_node("MatMul", ["A", "B"], ["Y"])],
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["M", k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", n])],
        [numpy_helper.from_array(b.astype(np.float32), "B")],
    )


def quantize_weight(b: np.ndarray, reduce_range: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 (zero point 0), as the artifact's export does:
    values in [-127, 127], or [-64, 64] with `reduce_range` (7-bit, for CPUs without VNNI),
    the ranges of onnxruntime.quantization's get_qmin_qmax_for_qType. Returns (int8, scales)."""
    qmax = 64 if reduce_range else 127
    scale = np.abs(b).max(axis=0) / qmax
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.round(b / scale), -qmax, qmax).astype(np.int8)
    return q, scale


def int8_dynamic_graph(b: np.ndarray, reduce_range: bool = True) -> bytes:
    """Y[M, N] ≈ A[M, K] @ B the way dynamic quantization runs it, node for node what
    `quantize_dynamic(per_channel=True)` emits for a MatMul: DynamicQuantizeLinear(A) ->
    uint8, scale, zero point; MatMulInteger with the int8 weights and their zero points;
    Cast to float; Mul by A's scale times the weights' scales. ORT_ENABLE_ALL then fuses it
    as it fuses the artifact's int8 graph."""
    k, n = b.shape
    q, scale = quantize_weight(b, reduce_range)
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["A"], ["A_q", "A_scale", "A_zp"]),
        helper.make_node("Mul", ["A_scale", "B_scale"], ["scales"]),
        helper.make_node("MatMulInteger", ["A_q", "B_q", "A_zp", "B_zp"], ["Y_int"]),
        helper.make_node("Cast", ["Y_int"], ["Y_float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["Y_float", "scales"], ["Y"]),
    ]
    weights = [
        numpy_helper.from_array(q, "B_q"),
        numpy_helper.from_array(np.zeros(n, np.int8), "B_zp"),
        numpy_helper.from_array(scale, "B_scale"),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["M", k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", n])],
        weights,
    )


def int8_kernel_graph(b_q: np.ndarray, a_zero_point: int = 128) -> bytes:
    """Y[M, N] (int32) = (A - a_zero_point) @ B_q, A uint8, B_q a constant int8 with zero
    point 0: MatMulInteger alone, the int8 kernel's peak without quantizing the input."""
    k, n = b_q.shape
    weights = [
        numpy_helper.from_array(b_q.astype(np.int8), "B_q"),
        numpy_helper.from_array(np.array(a_zero_point, np.uint8), "A_zp"),
        numpy_helper.from_array(np.zeros(n, np.int8), "B_zp"),
    ]
    return _model(
        [helper.make_node("MatMulInteger", ["A", "B_q", "A_zp", "B_zp"], ["Y"])],
        [helper.make_tensor_value_info("A", TensorProto.UINT8, ["M", k])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, ["M", n])],
        weights,
    )


def session(model: bytes, threads: int) -> ort.InferenceSession:
    """As serving runs the encoder: ORT_ENABLE_ALL, sequential, `threads` intra-op threads."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


# --- timing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Seconds per run over `runs` timed runs (after the warm-up): median, quartiles and the
    best run (on a busy machine the median is the figure, the best the hint of the peak)."""

    median: float
    q1: float
    q3: float
    best: float
    runs: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Timing:
        q1, q3 = np.percentile(np.asarray(seconds), [25, 75])
        median = float(statistics.median(seconds))
        return cls(median, float(q1), float(q3), float(min(seconds)), len(seconds))

    @property
    def spread(self) -> float:
        """The interquartile range over the median."""
        return (self.q3 - self.q1) / self.median

    def as_json(self) -> dict[str, Any]:
        return {
            "median_s": self.median,
            "q1_s": self.q1,
            "q3_s": self.q3,
            "best_s": self.best,
            "runs": self.runs,
            "spread": self.spread,
        }


def time_session(sess: ort.InferenceSession, a: np.ndarray, repeats: int, warmup: int) -> Timing:
    """`warmup` untimed runs, then `repeats` runs each timed with perf_counter. Input and
    output are bound once (IOBinding, output preallocated) so a run is the graph alone,
    with no output allocation or copy to numpy."""
    out = sess.get_outputs()[0]
    dtype = np.int32 if out.type == "tensor(int32)" else np.float32
    y = np.empty((a.shape[0], int(out.shape[1])), dtype)
    binding = sess.io_binding()
    binding.bind_cpu_input(sess.get_inputs()[0].name, a)
    binding.bind_ortvalue_output(out.name, ort.OrtValue.ortvalue_from_numpy(y))
    for _ in range(warmup):
        sess.run_with_iobinding(binding)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        sess.run_with_iobinding(binding)
        seconds.append(time.perf_counter() - start)
    return Timing.of(seconds)


@dataclass(frozen=True)
class GemmResult:
    gemm: Gemm
    fp32: Timing
    int8: Timing  # DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul
    int8_kernel: Timing  # MatMulInteger alone

    def timing(self, graph: Graph) -> Timing:
        return {"fp32": self.fp32, "int8": self.int8, "int8_kernel": self.int8_kernel}[graph]

    @property
    def fp32_gflops(self) -> float:
        return self.gemm.flops / self.fp32.median / 1e9

    @property
    def int8_gops(self) -> float:
        return self.gemm.flops / self.int8.median / 1e9

    @property
    def int8_kernel_gops(self) -> float:
        return self.gemm.flops / self.int8_kernel.median / 1e9

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.gemm.name,
            "m": self.gemm.m,
            "k": self.gemm.k,
            "n": self.gemm.n,
            "per_layer": self.gemm.per_layer,
            "flops": self.gemm.flops,
            "fp32_gflops": self.fp32_gflops,
            "int8_gops": self.int8_gops,
            "int8_kernel_gops": self.int8_kernel_gops,
            "fp32": self.fp32.as_json(),
            "int8": self.int8.as_json(),
            "int8_kernel": self.int8_kernel.as_json(),
        }


def measure_gemm(
    gemm: Gemm, threads: int, repeats: int, warmup: int = 3, seed: int = 0
) -> GemmResult:
    """One GEMM three ways (fp32, int8 dynamic, int8 kernel) on random normal data."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((gemm.m, gemm.k), dtype=np.float32)
    b = rng.standard_normal((gemm.k, gemm.n), dtype=np.float32) / np.sqrt(gemm.k)
    a_u8 = rng.integers(0, 256, (gemm.m, gemm.k), dtype=np.uint8)
    b_q, _ = quantize_weight(b)
    timings = [
        time_session(session(model, threads), x, repeats, warmup)
        for model, x in (
            (fp32_matmul_graph(b), a),
            (int8_dynamic_graph(b), a),
            (int8_kernel_graph(b_q), a_u8),
        )
    ]
    return GemmResult(gemm, *timings)


# --- the machine -------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    cpu: str
    logical_cpus: int  # os.cpu_count()
    available_cpus: int  # this process's affinity (a container or taskset may restrict it)
    isa: tuple[str, ...]  # those of ISA_FLAGS the CPU reports
    onnxruntime: str

    @classmethod
    def here(cls, cpuinfo: Path = Path("/proc/cpuinfo")) -> Machine:
        cpu, flags = "", set[str]()
        if cpuinfo.exists():
            for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not cpu:
                    cpu = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
        return cls(
            cpu=cpu or platform.processor() or platform.machine(),
            logical_cpus=os.cpu_count() or 1,
            available_cpus=_available_cpus(),
            isa=tuple(f for f in ISA_FLAGS if f in flags),
            onnxruntime=ort.__version__,
        )


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --- the ceiling -------------------------------------------------------------------------


@dataclass(frozen=True)
class Ceiling:
    shape: EncoderShape
    tokens: int
    seq_len: int
    threads: int
    repeats: int
    machine: Machine
    results: tuple[GemmResult, ...]

    @property
    def flops_per_token(self) -> float:
        return flops_per_token(self.shape, self.seq_len)

    def _weighted(self, attr: Graph) -> float:
        """The mix's FLOPs over its time, each GEMM counted `per_layer` times."""
        flops = sum(r.gemm.flops * r.gemm.per_layer for r in self.results)
        seconds = sum(r.timing(attr).median * r.gemm.per_layer for r in self.results)
        return flops / seconds / 1e9

    @property
    def fp32_gflops(self) -> float:
        return self._weighted("fp32")

    @property
    def int8_gops(self) -> float:
        return self._weighted("int8")

    @property
    def int8_kernel_gops(self) -> float:
        return self._weighted("int8_kernel")

    @property
    def tokens_per_s_limit_fp32(self) -> float:
        return self.fp32_gflops * 1e9 / self.flops_per_token

    @property
    def tokens_per_s_limit_int8(self) -> float:
        """With the int8 graph as dynamic quantization runs it (quantizing included)."""
        return self.int8_gops * 1e9 / self.flops_per_token

    def limit(self, precision: Precision) -> float:
        return self.tokens_per_s_limit_fp32 if precision == "fp32" else self.tokens_per_s_limit_int8

    def fraction(self, tokens_per_s: float, precision: Precision) -> float:
        """A measured throughput as a fraction of this machine's limit for that graph."""
        return tokens_per_s / self.limit(precision)

    def as_json(self) -> dict[str, Any]:
        return {
            "encoder": {
                "hidden": self.shape.hidden,
                "intermediate": self.shape.intermediate,
                "layers": self.shape.layers,
                "heads": self.shape.heads,
                "vocab": self.shape.vocab,
                "name": self.shape.name,
            },
            "tokens": self.tokens,
            "seq_len": self.seq_len,
            "threads": self.threads,
            "repeats": self.repeats,
            "machine": {
                "cpu": self.machine.cpu,
                "logical_cpus": self.machine.logical_cpus,
                "available_cpus": self.machine.available_cpus,
                "isa": list(self.machine.isa),
                "onnxruntime": self.machine.onnxruntime,
            },
            "gemms": [r.as_json() for r in self.results],
            "flops_per_token": self.flops_per_token,
            "fp32_gflops": self.fp32_gflops,
            "int8_gops": self.int8_gops,
            "int8_kernel_gops": self.int8_kernel_gops,
            "tokens_per_s_limit_fp32": self.tokens_per_s_limit_fp32,
            "tokens_per_s_limit_int8": self.tokens_per_s_limit_int8,
        }

    def markdown(self) -> str:
        m, s = self.machine, self.shape

        def cell(rate: float, timing: Timing | None = None) -> str:
            return f"{rate:,.1f}" + ("" if timing is None else f" (±{timing.spread:.0%})")

        lines = [
            f"{m.cpu}, {m.available_cpus} of {m.logical_cpus} CPUs, {self.threads} threads, "
            f"ISA: {', '.join(m.isa) or 'none of ' + ', '.join(ISA_FLAGS)}; "
            f"onnxruntime {m.onnxruntime}; {self.tokens} tokens per GEMM, median of "
            f"{self.repeats} runs (± interquartile range over the median).",
            "",
            "| GEMM | shape (MxKxN) | fp32 GFLOP/s | int8 GOP/s (dynamic) "
            "| int8 GOP/s (MatMulInteger alone) |",
            "|---|---|---:|---:|---:|",
        ]
        for r in self.results:
            lines.append(
                f"| {r.gemm.name} | {r.gemm.label} | {cell(r.fp32_gflops, r.fp32)} "
                f"| {cell(r.int8_gops, r.int8)} | {cell(r.int8_kernel_gops, r.int8_kernel)} |"
            )
        lines += [
            f"| **encoder mix** (time-weighted) | | **{cell(self.fp32_gflops)}** "
            f"| **{cell(self.int8_gops)}** | {cell(self.int8_kernel_gops)} |",
            f"| **limit, tokens/s** | seq {self.seq_len} "
            f"| **{self.tokens_per_s_limit_fp32:,.0f}** "
            f"| **{self.tokens_per_s_limit_int8:,.0f}** "
            f"| {self.int8_kernel_gops * 1e9 / self.flops_per_token:,.0f} |",
            "",
            "int8 (dynamic): DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul as "
            "quantize_dynamic emits it (ORT fuses it into DynamicQuantizeMatMul), quantizing "
            "included; MatMulInteger alone: uint8 activations already quantized.",
            f"tokens/s limit = mix GFLOP/s x 1e9 / FLOPs per token; FLOPs per token = "
            f"2·L·(4h² + 2hi + 2·seq·h) = {self.flops_per_token / 1e6:.3g} M "
            f"(h={s.hidden}, i={s.intermediate}, L={s.layers}, seq={self.seq_len}).",
        ]
        return "\n".join(lines) + "\n"


def measure_ceiling(
    shape: EncoderShape,
    tokens: int = 2048,
    seq_len: int = 128,
    threads: int | None = None,
    repeats: int = 20,
    warmup: int = 3,
) -> Ceiling:
    """Every GEMM of `gemms(shape, tokens)` three ways; `threads` defaults to the CPUs this
    process may use (os.cpu_count() unless its affinity is restricted)."""
    threads = threads or _available_cpus()
    results = tuple(
        measure_gemm(g, threads, repeats, warmup, seed=n)
        for n, g in enumerate(gemms(shape, tokens))
    )
    return Ceiling(shape, tokens, seq_len, threads, repeats, Machine.here(), results)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ceiling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    shape = EncoderShape.from_artifact(args.artifact)
    ceiling = measure_ceiling(
        shape, args.tokens, args.seq_len, args.threads, args.repeats, args.warmup
    )
    sys.stdout.write(ceiling.markdown())
    if args.json is not None:
        args.json.write_text(json.dumps(ceiling.as_json(), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
