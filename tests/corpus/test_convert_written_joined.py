"""Written reports joined into articles: every report once, within its split, its labels
carried over to its place in the joined text."""

from collections import Counter
from pathlib import Path

from training.corpus import convert_written
from training.corpus.convert_written_joined import GROUP, convert, report_files
from training.corpus.log import ConversionLog


def test_every_report_lands_once_in_its_split_with_its_labels() -> None:
    reports = {r.source.upstream_id: r for p in report_files() for r in convert_written.load(p)}
    joined = list(convert(Path("unused"), ConversionLog()))
    used = Counter(i for r in joined for i in r.source.upstream_id.split("+"))
    assert set(used) == set(reports) and set(used.values()) == {1}
    for r in joined:
        ids = r.source.upstream_id.split("+")
        assert 1 <= len(ids) <= GROUP and len(r.sentences) == len(ids)
        assert {reports[i].split for i in ids} == {r.split}
        for i, sentence in zip(ids, r.sentences, strict=True):
            report = reports[i]
            assert r.text[sentence.start : sentence.end] == report.text
            assert sentence.events == report.events and sentence.coarse == report.coarse
            inside = [s for s in r.spans if sentence.start <= s.start and s.end <= sentence.end]
            assert [(r.text[s.start : s.end], s.entity, s.role) for s in inside] == [
                (report.text[s.start : s.end], s.entity, s.role) for s in report.spans
            ]
        assert set(r.events) == {e for i in ids for e in reports[i].events}
    # Both ways of joining occur: paragraph breaks and running text.
    assert any("\n\n" in r.text for r in joined) and any("\n\n" not in r.text for r in joined)
