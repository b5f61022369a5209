"""Offline batch labeling: tag every record of a JSONL, CSV or Parquet file into JSONL or Parquet.

`label_file(LabelJob(...))` is the engine behind `conflict-tagger label IN OUT`.

Every input field passes through unchanged; the output adds `tags`, the `Result` as JSON
(a JSON string column in Parquet), replacing any input field of that name. A record that
cannot be read or tagged (no usable text, invalid or too deeply nested JSON, a malformed
CSV row, invalid UTF-8, a CSV quote never closed, a cut-off .gz tail, anything the tagger
raises, a text that kills its worker process, fields that do not fit the Parquet schema)
goes to the errors file with its line or row number, its id and the reason, and the run
goes on, so `records_out + failed == records_in` always holds. An interrupted run resumes
when rerun with the same settings and an unchanged input (see checkpoint.py); one labeler
at a time writes an output (lock.py).
`label_with_ray(job, RayOptions(...))` does the same on a Ray cluster (ray_engine.py).
"""

from serving.labeling.job import LabelingError, LabelJob, Summary
from serving.labeling.pool import available_cores, plan_workers
from serving.labeling.ray_engine import RayOptions, label_with_ray
from serving.labeling.run import _Run as _Run  # tests patch _Run._write_unit
from serving.labeling.run import label_file

__all__ = [
    "LabelJob",
    "LabelingError",
    "RayOptions",
    "Summary",
    "available_cores",
    "label_file",
    "label_with_ray",
    "plan_workers",
]
