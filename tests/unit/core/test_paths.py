from pathlib import Path

from storyloom.core.paths import sidecar_dir


def test_sidecar_sits_beside_the_manuscript_and_keeps_its_whole_name() -> None:
    assert sidecar_dir(Path("/books/story.md")) == Path("/books/story.md.storyloom")
    assert sidecar_dir(Path("draft.txt")) == Path("draft.txt.storyloom")


def test_sidecar_is_never_created_by_asking_for_it(tmp_path: Path) -> None:
    manuscript = tmp_path / "story.md"
    assert not sidecar_dir(manuscript).exists()
