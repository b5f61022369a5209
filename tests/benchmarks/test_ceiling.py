"""The ceiling benchmark: FLOPs arithmetic by hand, the graphs against numpy, a tiny run."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from benchmarks.ceiling import (
    Ceiling,
    EncoderShape,
    Gemm,
    flops_per_token,
    fp32_matmul_graph,
    gemms,
    int8_dynamic_graph,
    int8_kernel_graph,
    main,
    measure_ceiling,
    quantize_weight,
    session,
)

MINILM_L6 = EncoderShape(hidden=384, intermediate=1536, layers=6, heads=12, vocab=30522)
TINY = EncoderShape(hidden=32, intermediate=64, layers=2, heads=2)


def test_flops_per_token_minilm_l6_by_hand() -> None:
    # per layer, multiply-adds: QKV + output 4*384^2 = 589_824; FFN 2*384*1536 = 1_179_648;
    # scores + weighted sum at seq 128: 2*128*384 = 98_304; total 1_867_776.
    # x2 FLOPs x6 layers = 22_413_312.
    assert flops_per_token(MINILM_L6, 128) == 22_413_312
    # seq 256 adds 2*128*384 multiply-adds per layer: + 2*6*98_304
    assert flops_per_token(MINILM_L6, 256) == 22_413_312 + 1_179_648
    assert flops_per_token(TINY, 8) == 2 * 2 * (4 * 32 * 32 + 2 * 32 * 64 + 2 * 8 * 32)


def test_gemms_are_the_encoder_shapes() -> None:
    assert gemms(MINILM_L6, 2048) == [
        ("QKV", 2048, 384, 1152, 1),
        ("attention output", 2048, 384, 384, 1),
        ("FFN up", 2048, 384, 1536, 1),
        ("FFN down", 2048, 1536, 384, 1),
    ]
    # the GEMMs are the projections and the FFN of flops_per_token, without attention
    per_token = sum(g.flops * g.per_layer for g in gemms(MINILM_L6, 1)) * MINILM_L6.layers
    assert per_token == flops_per_token(MINILM_L6, 0)
    assert Gemm("x", 4, 5, 6, 1).flops == 240


def _rng_ab(m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return (
        rng.standard_normal((m, k), dtype=np.float32),
        rng.standard_normal((k, n), dtype=np.float32) / np.sqrt(k),
    )


def test_fp32_graph_is_the_product() -> None:
    a, b = _rng_ab(16, 24, 40)
    (y,) = session(fp32_matmul_graph(b), 1).run(None, {"A": a})
    np.testing.assert_allclose(y, a @ b, rtol=1e-5, atol=1e-5)


def _dynamic_quantize(a: np.ndarray) -> tuple[np.ndarray, np.float32, np.uint8]:
    """ONNX DynamicQuantizeLinear, from the operator's specification."""
    lo, hi = min(0.0, float(a.min())), max(0.0, float(a.max()))
    scale = np.float32((hi - lo) / 255)
    zp = np.uint8(np.clip(np.rint(-lo / scale), 0, 255))
    q = np.clip(np.rint(a / scale) + zp, 0, 255).astype(np.uint8)
    return q, scale, zp


def _has_vnni() -> bool:
    """Whether the CPU has VNNI dot products (AVX-512 VNNI, AVX-VNNI or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


# Without VNNI, ONNX Runtime's u8 x s8 kernel adds products in pairs into int16 with
# saturation: with full-range (8-bit) weights the sums can clip, which is why the export
# uses 7-bit weights (reduce_range). Exact integer products hold only with VNNI there.
SATURATES = pytest.mark.skipif(
    not _has_vnni(), reason="no VNNI: ONNX Runtime's AVX2 u8s8 kernel saturates int16 pair sums"
)


@pytest.mark.parametrize("reduce_range", [True, pytest.param(False, marks=SATURATES)])
def test_int8_dynamic_graph_is_the_quantized_product(reduce_range: bool) -> None:
    a, b = _rng_ab(16, 24, 40)
    (y,) = session(int8_dynamic_graph(b, reduce_range), 1).run(None, {"A": a})
    # exactly the quantized arithmetic, to float rounding
    b_q, b_scale = quantize_weight(b, reduce_range)
    a_q, a_scale, a_zp = _dynamic_quantize(a)
    exact = (a_q.astype(np.int64) - int(a_zp)) @ b_q.astype(np.int64)
    np.testing.assert_allclose(y, exact * (a_scale * b_scale), rtol=1e-4, atol=1e-4)
    # and the fp32 product within quantization error: each of K terms off by at most half a
    # step of a times |b|, plus half a step of b times |a|
    bound = 0.5 * a_scale * np.abs(b).sum(axis=0) + 0.5 * b_scale * np.abs(a).sum(
        axis=1, keepdims=True
    )
    err = np.abs(y - a @ b)
    assert (err <= bound * 1.01 + 1e-4).all()
    assert err.max() > 0  # it really is quantized
    assert np.abs(b_q).max() == (64 if reduce_range else 127)


@SATURATES
def test_int8_kernel_graph_is_the_integer_product() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (16, 24), dtype=np.uint8)
    b_q = rng.integers(-128, 128, (24, 40), dtype=np.int8)
    (y,) = session(int8_kernel_graph(b_q, a_zero_point=100), 1).run(None, {"A": a})
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, (a.astype(np.int64) - 100) @ b_q.astype(np.int64))


def test_sessions_are_configured_as_asked() -> None:
    _, b = _rng_ab(1, 8, 8)
    options = session(fp32_matmul_graph(b), 1).get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL


def _figures(c: Ceiling) -> list[float]:
    rows = [(r.fp32_gflops, r.int8_gops, r.int8_kernel_gops) for r in c.results]
    return [x for row in rows for x in row] + [
        c.fp32_gflops,
        c.int8_gops,
        c.int8_kernel_gops,
        c.tokens_per_s_limit_fp32,
        c.tokens_per_s_limit_int8,
    ]


def test_measure_ceiling_on_a_tiny_encoder() -> None:
    c = measure_ceiling(TINY, tokens=64, seq_len=16, threads=1, repeats=3, warmup=1)
    assert [r.gemm for r in c.results] == gemms(TINY, 64)
    assert all(math.isfinite(x) and x > 0 for x in _figures(c))
    assert all(r.fp32.runs == 3 and r.fp32.q1 <= r.fp32.median <= r.fp32.q3 for r in c.results)
    # the weighted rate is the mix's FLOPs over its time, so it lies within the GEMMs' rates
    rates = [r.fp32_gflops for r in c.results]
    assert min(rates) * 0.999 <= c.fp32_gflops <= max(rates) * 1.001
    flops = sum(r.gemm.flops for r in c.results)
    assert c.fp32_gflops == pytest.approx(flops / sum(r.fp32.median for r in c.results) / 1e9)
    assert c.tokens_per_s_limit_int8 == pytest.approx(c.int8_gops * 1e9 / flops_per_token(TINY, 16))
    assert c.fraction(c.tokens_per_s_limit_fp32 / 2, "fp32") == pytest.approx(0.5)
    assert c.threads == 1 and c.machine.onnxruntime == ort.__version__

    table = c.markdown()
    assert table.count("\n| ") == 7  # 4 GEMMs, the mix, the limits (after the header row)
    for r in c.results:
        assert re.search(rf"\| {r.gemm.name} \| {r.gemm.m}x{r.gemm.k}x{r.gemm.n} \| "
                         rf"{r.fp32_gflops:,.1f} ", table)  # fmt: skip
        assert f"{r.int8_gops:,.1f}" in table
    assert f"**{c.tokens_per_s_limit_fp32:,.0f}**" in table
    assert f"**{c.tokens_per_s_limit_int8:,.0f}**" in table

    data = json.loads(json.dumps(c.as_json()))
    assert data["tokens_per_s_limit_fp32"] == c.tokens_per_s_limit_fp32
    assert [g["name"] for g in data["gemms"]] == ["QKV", "attention output", "FFN up", "FFN down"]


def _write_artifact(folder: Path, intermediate: int | None, graph: bool = True) -> None:
    """A manifest and an fp32 graph holding a tiny encoder's weight shapes (no real model)."""
    folder.mkdir()
    base = {"name": "tiny", "model_type": "bert", "layers": 2, "hidden_size": 32, "heads": 2}
    manifest = {"base_encoder": base, "graphs": {"fp32": "model.onnx"}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    if not graph:
        return
    shapes = {"word_embeddings.weight": (99, 32), "position_embeddings.weight": (16, 32),
              "head.weight": (32, 5), "attn.weight": (32, 96), "out.weight": (32, 32)}  # fmt: skip
    if intermediate:
        for layer in range(2):
            shapes[f"l{layer}.up"] = (32, intermediate)
            shapes[f"l{layer}.down"] = (intermediate, 32)
    inits = [numpy_helper.from_array(np.zeros(s, np.float32), n) for n, s in shapes.items()]
    node = helper.make_node("Identity", ["x"], ["y"])
    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    onnx.save(helper.make_model(helper.make_graph([node], "g", [value], [out], inits)),
              str(folder / "model.onnx"))  # fmt: skip


def test_shape_from_artifact_reads_the_graph(tmp_path: Path) -> None:
    _write_artifact(tmp_path / "a", intermediate=64)
    assert EncoderShape.from_artifact(tmp_path / "a") == EncoderShape(32, 64, 2, 2, 99, "tiny")


def test_shape_from_artifact_assumes_4h_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write_artifact(tmp_path / "a", intermediate=None)
    with caplog.at_level(logging.WARNING, logger="benchmarks.ceiling"):
        shape = EncoderShape.from_artifact(tmp_path / "a")
    assert shape.intermediate == 128 and shape.vocab == 99
    assert "assuming 4 * hidden" in caplog.text


def test_cli_prints_the_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_artifact(tmp_path / "a", intermediate=64)
    out = tmp_path / "ceiling.json"
    args = ["--artifact", str(tmp_path / "a"), "--threads", "1", "--tokens", "32"]
    assert main([*args, "--repeats", "2", "--warmup", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["encoder"]["intermediate"] == 64 and data["tokens"] == 32
    assert f"{data['tokens_per_s_limit_fp32']:,.0f}" in capsys.readouterr().out
