"""Sentences as Punkt cuts them: cases both the pipeline's splitter (nltk) and the app's own
(`storyloom.core.sentences`) are held to."""

from __future__ import annotations

PUNKT_CASES: list[tuple[str, list[str]]] = [
    (
        "Mr. Hale came down the hill. St. Anne's Street was dark, and Dr. Watson was out.",
        ["Mr. Hale came down the hill.", "St. Anne's Street was dark, and Dr. Watson was out."],
    ),
    # Punkt's orthographic evidence: "Darling" is a common word, so it may start a sentence
    ("Mr. Darling came home at six.", ["Mr.", "Darling came home at six."]),
    (
        "“Is it late, Father?” asked Meg. “The bells have not rung.”",
        ["“Is it late, Father?”", "asked Meg.", "“The bells have not rung.”"],
    ),
    (
        '"Execution, you would say, Sir," added Mrs. Sheppard, with a deep sigh.',
        ['"Execution, you would say, Sir," added Mrs. Sheppard, with a deep sigh.'],
    ),
    ("It was 3 p.m. on Jan. 5. He had gone.", ["It was 3 p.m. on Jan. 5.", "He had gone."]),
]
