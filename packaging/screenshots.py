"""Take the README/AppStream screenshots of the real window, mid-continuation.

Run under a real X server (`make screenshots` uses Xvfb). The model is the test suite's fake
Ollama server streaming a scripted cra-v1-style reply, so the picture is reproducible.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

import ollama
from PySide6.QtGui import QTextCursor

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from storyloom.core.backend import OllamaBackend  # noqa: E402
from storyloom.core.settings import AppSettings, MemoryStore  # noqa: E402
from storyloom.gui.app import create_application  # noqa: E402
from storyloom.gui.event_loop import StoryloomEventLoop  # noqa: E402
from storyloom.gui.main_window import MainWindow  # noqa: E402

from fake_ollama import FakeOllama, Script, split_tokens, tagged_reply  # noqa: E402

REASONING = """Maren has rowed out expecting ghosts and rust, and instead she finds a table laid \
for two at the top of the lighthouse. That has to unsettle her more than any ruin would: \
someone has been here, recently, and they were expecting company.

Who set it? The handkerchief with the stranger's initials, her father's silence after the \
Aldine went down, the one body too few. The simplest, most frightening answer is that the \
missing sailor survived, and her father kept him here.

She should not understand it all at once. First the details: two plates, dust on one and not \
the other, dried flowers in a jar. Then a sound below her on the stairs. Keep it quiet and \
close, end on the footsteps."""

ANSWER = """For a long moment she did not move. Two plates, two cups, two chairs pulled in as \
if whoever had laid them meant to come back. The cloth was yellowed, but someone had pressed \
it once; the creases still ran straight as rope.

Dust lay thick on the nearer plate. The other was clean.

Maren set the tin of oil down very carefully, the way you set down something that might \
wake a sleeper. Beside the clean plate stood a jam jar of dried sea lavender, and tucked \
beneath it, folded small, a handkerchief with the same two letters stitched into its corner.

Below her, on the iron stair, something shifted its weight."""

OUT = REPO / "resources" / "screenshots"


async def take(window: MainWindow, server: FakeOllama) -> None:
    window.continue_story()
    answer_seen = len(ANSWER) // 2
    while len(window.editor.pending_text()) < answer_seen:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    OUT.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(OUT / "continuing.png"))
    window.controller.stop()
    await window.shutdown()


def main() -> int:
    app = create_application(sys.argv)
    server = FakeOllama()
    server.add_model("molbal/cra-v1-7b", family="qwen2", parameter_size="7.6B")
    chunks = split_tokens(tagged_reply(REASONING, ANSWER))
    server.set_script(Script(chunks, delay=0.004))
    server.start()
    try:
        # In-memory settings: taking a screenshot must not change the developer's own settings.
        window = MainWindow(
            OllamaBackend(ollama.AsyncClient(host=server.url)), settings=AppSettings(MemoryStore())
        )
        window.generation = replace(window.generation, num_ctx=16384)
        window.resize(1280, 800)
        window.model_box.setCurrentText("molbal/cra-v1-7b")
        story = (REPO / "resources" / "sample-story.txt").read_text(encoding="utf-8").rstrip()
        window.editor.setPlainText(story)
        window.editor.moveCursor(QTextCursor.MoveOperation.End)
        window.show()
        with asyncio.Runner(loop_factory=lambda: StoryloomEventLoop(app)) as runner:
            runner.run(take(window, server))
    finally:
        server.stop()
    print(f"wrote {OUT / 'continuing.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
