"""Take the README/AppStream screenshots of the real window.

- continuing.png: the whole window, mid-continuation;
- plan-and-takes.png: the side panel after a guided continuation and a rewrite from an edited
  plan: the suggested directions, the edited plan, and the two takes of that spot.

Run under a real X server (`make screenshots` uses Xvfb). The model is the test suite's fake
Ollama server streaming scripted cra-v1-style replies, so the pictures are reproducible.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

import ollama
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from storyloom.core.backend import OllamaBackend  # noqa: E402
from storyloom.core.length import Length  # noqa: E402
from storyloom.core.settings import AppSettings, MemoryStore  # noqa: E402
from storyloom.gui.app import create_application  # noqa: E402
from storyloom.gui.event_loop import StoryloomEventLoop  # noqa: E402
from storyloom.gui.main_window import MainWindow  # noqa: E402

from fake_ollama import FakeOllama, PromptInfo, Script, split_tokens, tagged_reply  # noqa: E402

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

GUIDED = "molbal/cra-v1-guided-7b"
DIRECTIONS = [
    "Maren finds a letter from her father addressed to the missing sailor.",
    "Whoever laid the table is still in the lighthouse, and comes up the stair.",
    "The great lens has been hidden in the lamp room, and it is lit.",
]
PLAN_EDIT = (
    "\n\nNot a stranger on the stair: let her hear her own name, called softly, in a voice she "
    "has not heard since the Aldine went down."
)
REWRITE = """She did not turn round. She set the tin of oil down beside the clean plate, very \
carefully, the way you set down something that might wake a sleeper.

“Maren.”

Not loud. Not a question, either. Whoever stood on the iron stair below her had known her name \
for a long time, and had said it often, and had not said it in eleven years."""

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


async def plan_and_takes(window: MainWindow) -> None:
    """Directions, a guided take, an edited plan, a second take written from it."""
    window.suggest_directions()
    while len(window.steering.chips) < len(DIRECTIONS):
        await asyncio.sleep(0.02)
    window.steering.chips[1].clicked.emit()
    window.continue_story()
    await finished(window)
    plan = window.reasoning.text
    plan.moveCursor(QTextCursor.MoveOperation.End)
    plan.insertPlainText(PLAN_EDIT)
    window.rewrite_from_plan(window.reasoning.plan())
    await finished(window)
    window.reasoning.takes_list.setFocus()
    await asyncio.sleep(0.2)
    OUT.mkdir(parents=True, exist_ok=True)
    window.reasoning_dock.grab().save(str(OUT / "plan-and-takes.png"))
    await window.shutdown()


async def finished(window: MainWindow) -> None:
    await asyncio.sleep(0.05)
    while window.controller.phase.is_active:
        await asyncio.sleep(0.02)


def guided_replies(info: PromptInfo) -> Script:
    if "Suggest three different ways" in info.prompt:
        listed = "\n".join(f"{n}. {d}" for n, d in enumerate(DIRECTIONS, 1))
        return Script(split_tokens(tagged_reply("Three ways.", listed)))
    if info.prompt.endswith("<answer>"):  # rewritten from the plan: the prose only
        return Script(split_tokens(REWRITE + "</answer>"), delay=0.002)
    return Script(split_tokens(tagged_reply(REASONING, ANSWER)), delay=0.002)


def open_window(app: QApplication, server: FakeOllama, model: str) -> MainWindow:
    # In-memory settings: taking a screenshot must not change the developer's own settings.
    window = MainWindow(
        OllamaBackend(ollama.AsyncClient(host=server.url)), settings=AppSettings(MemoryStore())
    )
    window.model_box.setCurrentText(model)
    window.generation = replace(window.generation, num_ctx=16384)
    window.resize(1280, 800)
    story = (REPO / "resources" / "sample-story.txt").read_text(encoding="utf-8").rstrip()
    window.editor.setPlainText(story)
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    window.show()
    return window


def main() -> int:
    app = create_application(sys.argv)
    server = FakeOllama()
    for model in ("molbal/cra-v1-7b", GUIDED):
        server.add_model(model, family="qwen2", parameter_size="7.6B", context_length=32768)
    server.start()
    try:
        chunks = split_tokens(tagged_reply(REASONING, ANSWER))
        server.set_script(Script(chunks, delay=0.004))
        window = open_window(app, server, GUIDED)
        window.guidance_edit.setText("Someone has been living in the lighthouse.")
        with asyncio.Runner(loop_factory=lambda: StoryloomEventLoop(app)) as runner:
            runner.run(take(window, server))
        window.close()

        server.set_script(guided_replies)
        window = open_window(app, server, GUIDED)
        window.steering.set_length(Length.SCENE)
        window.resizeDocks([window.reasoning_dock], [440], Qt.Orientation.Horizontal)
        with asyncio.Runner(loop_factory=lambda: StoryloomEventLoop(app)) as runner:
            runner.run(plan_and_takes(window))
        window.close()
    finally:
        server.stop()
    print(f"wrote {OUT / 'continuing.png'} and {OUT / 'plan-and-takes.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
