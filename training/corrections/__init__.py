"""Users' corrected annotations as records of the "corrections" collection.

read_corrections reads analysts' files (project records, corrected batch-labeler output,
Label Studio exports, CoNLL); merge_corrections folds them into a folder of train and
dev JSONL that the corpus build can read like any other collection.
"""

from training.corrections.build import text_key
from training.corrections.errors import CorrectionsError
from training.corrections.merge import merge_corrections
from training.corrections.read import read_corrections
from training.corrections.report import MergeReport

__all__ = [
    "CorrectionsError",
    "MergeReport",
    "merge_corrections",
    "read_corrections",
    "text_key",
]
