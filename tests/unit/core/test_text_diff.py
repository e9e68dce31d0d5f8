from __future__ import annotations

from storyloom.core.text_diff import DiffLine, diff_lines


def test_changed_lines_with_context() -> None:
    old = "\n".join(f"line {n}" for n in range(1, 11))
    new = old.replace("line 5", "line five").replace("line 10", "line 10\nline 11")
    diff = diff_lines(old, new, context=1)
    assert (diff.added, diff.removed) == (2, 1)
    assert diff.summary() == "2 lines added, 1 removed"
    assert DiffLine("-", "line 5") in diff.lines
    assert DiffLine("+", "line five") in diff.lines
    assert diff.lines[0] == DiffLine("@", "line 4")
    assert DiffLine(" ", "line 1") not in diff.lines  # outside the context


def test_identical_and_all_new() -> None:
    assert diff_lines("same\n", "same\n").identical
    diff = diff_lines("", "A new story.\nIt begins.")
    assert [line.kind for line in diff.lines] == ["@", "+", "+"]


def test_one_changed_line_reads_in_the_singular() -> None:
    assert diff_lines("a\nb\nc", "a\nB\nc").summary() == "1 line added, 1 removed"
