"""P0: the reply parser must be negligible next to a model's token rate.

Streams a long CRA reply (reasoning + answer, ~4,000 tokens of ~4 characters) through
ResponseParser one token at a time and prints the per-token cost.
"""

from __future__ import annotations

import statistics
import time

from storyloom.prompting import ResponseParser

SENTENCE = "“Open the door,” said Mr. Hale, and the rain < the wind kept on. "


def long_reply(tokens: int = 4000) -> list[str]:
    body = SENTENCE * (tokens * 4 // len(SENTENCE) // 2)
    text = f"<reasoning>\n{body}\n</reasoning>\n<answer>\n{body}\n</answer>"
    return [text[i : i + 4] for i in range(0, len(text), 4)]


def test_parser_cost_per_token() -> None:
    chunks = long_reply()
    per_token: list[float] = []
    runs = 20
    start = time.perf_counter()
    for _ in range(runs):
        parser = ResponseParser()
        for chunk in chunks:
            t0 = time.perf_counter()
            parser.feed(chunk)
            per_token.append(time.perf_counter() - t0)
        parser.close()
    total = time.perf_counter() - start
    p99 = statistics.quantiles(per_token, n=100)[98]
    print(
        f"\nP0 parser: {len(chunks)} tokens x {runs} runs; "
        f"{len(chunks) * runs / total:,.0f} tokens/s; "
        f"mean {statistics.fmean(per_token) * 1e6:.1f} µs/token, p99 {p99 * 1e6:.1f} µs/token"
    )
