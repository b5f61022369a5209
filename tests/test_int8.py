"""The int8 graph gives a document the same tags whatever shares its batch.

Dynamic int8 quantizes activations with one scale per tensor per call, so batched rows
move each other's scores; OnnxBackend runs an int8 graph's rows alone instead.
"""

from pathlib import Path

import numpy as np
import pytest

from serving.artifact import OUTPUTS, Artifact, verify
from serving.onnx_backend import OnnxBackend, dynamic_int8
from serving.tagger import RuntimeSettings, Tagger

DOC = (
    "Rebels fired a rocket at Camp Alpha on 3 May. Police arrested 12 protesters in Kayes. "
    "Farmers marched on the capital. " * 3
)  # several windows of 12 tokens
STRANGERS = [
    "ok",
    "Troops shelled the town and gunmen shot a trader. " * 6,
    "Envoys met in Geneva.",
    "terrorists bombed the power station in the capital.",
]


@pytest.fixture(scope="module")
def int8_tagger(tiny_artifact: Path) -> Tagger:
    # Whether the export accepted this random model's int8 graph depends on its dev
    # figures; marked accepted in memory only, to test the graph itself.
    art = verify(tiny_artifact)
    quantization = {**art.manifest["quantization"], "accepted": True}
    accepted = Artifact(art.path, {**art.manifest, "quantization": quantization})
    return Tagger(accepted, RuntimeSettings(precision="int8", threads=1, batch_tokens=256))


def test_int8_graphs_run_rows_alone_and_fp32_graphs_batched(
    tiny_artifact: Path, int8_tagger: Tagger
) -> None:
    art = verify(tiny_artifact)
    assert dynamic_int8(art.graph("int8")) and not dynamic_int8(art.graph("fp32"))
    assert int8_tagger.engine.backend.rows_alone  # type: ignore[attr-defined]
    fp32 = Tagger(art, RuntimeSettings(precision="fp32", threads=1))
    assert not fp32.engine.backend.rows_alone  # type: ignore[attr-defined]


def _batch(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    longest = max(len(r) for r in rows)
    ids = np.zeros((len(rows), longest), dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = r, 1
    return ids, mask


ROWS = [[2, 5, 6, 7, 3], [2, 40, 41, 42, 43, 44, 45, 46, 47, 48, 3], [2, 9, 3]]


def test_rows_alone_logits_equal_each_row_run_by_itself(tiny_artifact: Path) -> None:
    backend = OnnxBackend(verify(tiny_artifact).graph("int8"), threads=1)
    ids, mask = _batch(ROWS)
    together = backend(ids, mask)
    for i, row in enumerate(ROWS):
        alone = backend(*_batch([row]))
        for name in OUTPUTS:
            assert np.array_equal(together[name][i, : len(row)], alone[name][0])
            assert not together[name][i, len(row) :].any()  # padding: zeros


def test_batched_int8_would_depend_on_the_batch(tiny_artifact: Path) -> None:
    # The control: without rows_alone the same row's int8 logits change with its company,
    # so the tests above and below can fail.
    backend = OnnxBackend(verify(tiny_artifact).graph("int8"), threads=1, rows_alone=False)
    ids, mask = _batch(ROWS)
    together = backend(ids, mask)["entity_logits"][0, : len(ROWS[0])]
    alone = backend(*_batch([ROWS[0]]))["entity_logits"][0]
    assert not np.array_equal(together, alone)


def test_a_document_gets_byte_identical_results_in_any_batch(int8_tagger: Tagger) -> None:
    alone = int8_tagger.tag([DOC])[0].model_dump_json()
    assert int8_tagger.tag([DOC])[0].windows > 1
    mixed = int8_tagger.tag([STRANGERS[0], DOC, *STRANGERS[1:]])
    reordered = int8_tagger.tag([*STRANGERS[::-1], DOC])
    assert mixed[1].model_dump_json() == alone
    assert reordered[-1].model_dump_json() == alone
    for i, stranger in enumerate(STRANGERS):  # and each stranger is unmoved by DOC
        by_itself = int8_tagger.tag([stranger])[0].model_dump_json()
        assert mixed[0 if i == 0 else i + 1].model_dump_json() == by_itself
        assert reordered[len(STRANGERS) - 1 - i].model_dump_json() == by_itself
