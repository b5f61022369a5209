"""Users' corrected annotations as records of the "corrections" collection.

read_corrections reads analysts' files (project records, corrected batch-labeler output,
Label Studio exports, CoNLL); merge_corrections folds them into a folder of train and
dev JSONL that the corpus build can read like any other collection; split_dev cuts the dev
records into a slice that selects the candidate and one the promotion gate alone reads.
"""

from training.corrections.build import text_key
from training.corrections.errors import CorrectionsError
from training.corrections.merge import merge_corrections
from training.corrections.read import read_corrections
from training.corrections.report import MergeReport
from training.corrections.slices import Slices, split_dev

__all__ = [
    "CorrectionsError",
    "MergeReport",
    "Slices",
    "merge_corrections",
    "read_corrections",
    "split_dev",
    "text_key",
]
