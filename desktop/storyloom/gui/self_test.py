"""`storyloom --self-test`: prove that an installed copy (wheel, PyInstaller bundle, Flatpak) works.

It runs where there is no display and no Ollama, so packaging CI can run it on what it built:
Qt starts offscreen, the app's own `run()` opens the main window on the qasync loop, and checks
exercise what a broken bundle typically loses (a Qt plugin, a module or data file PyInstaller
did not see, a pydantic model of the Ollama client). Each check prints one line; the exit status
is 0 only when all of them pass. The settings check writes to a temporary folder only; starting
the window does what any start does (reads the writer's settings, asks the local Ollama for its
version, which may be absent), and the window closes before anything else can happen.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication

from storyloom import APP_ID
from storyloom.core import paths
from storyloom.core.backend import ContinuationRequest, GenerationSettings, OllamaBackend
from storyloom.core.backups import list_backups, save_with_backup
from storyloom.core.document_lock import DocumentLock
from storyloom.core.journal import Journal, JournalEntry, find_orphans
from storyloom.core.length import Length, LengthLimiter
from storyloom.core.models import DEFAULT_MODEL
from storyloom.core.profiles import RequestStyle, load_profiles
from storyloom.core.settings import EditorSettings, Theme
from storyloom.core.text_files import TextFormat, encode, read_manuscript
from storyloom.gui.app import create_application, run
from storyloom.gui.main_window import MainWindow
from storyloom.gui.settings_store import open_settings
from storyloom.gui.widgets.story_editor import StoryEditor
from storyloom.prompting import (
    AnswerDelta,
    ReasoningDelta,
    ResponseParser,
    continuation_messages,
    parse_response,
    render_assistant_turn,
    render_chatml,
    render_training_example,
)

# The base install must never load these; the pipeline extra brings them (DEVELOPERS.md).
ML_MODULES = ("torch", "transformers", "peft", "datasets", "gguf", "nltk", "storyloom_pipeline")
WINDOW_TIMEOUT_S = 20.0  # run() to a visible window: under 0.5 s here, even from a cold bundle
WATCHDOG_S = 120.0  # the CLI's last resort: a hung self-test must not hang CI

STORY = "The lighthouse had been dark for eleven years when Maren rowed out to it."
REASONING = "Maren expects ruin and rust. She should find a table laid for two instead."
ANSWER = "For a long moment she did not move. Two plates, two cups, two chairs."


class CheckFailed(Exception):
    pass


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


@dataclass
class Report:
    """Collects one line per check; stdout may be None (a Windows GUI launcher has none)."""

    failures: list[str] = field(default_factory=list)
    passed: int = 0

    def say(self, line: str) -> None:
        if sys.stdout is not None:
            print(f"self-test: {line}", flush=True)

    def check(self, name: str, body: Callable[[], object]) -> None:
        try:
            detail = body()
        except Exception as exc:
            self.fail(name, exc)
            return
        self.passed += 1
        self.say(f"ok   {name}" + (f" ({detail})" if detail else ""))

    def fail(self, name: str, exc: BaseException) -> None:
        self.failures.append(name)
        self.say(f"FAIL {name}: {exc}")
        if sys.stderr is not None and not isinstance(exc, CheckFailed):
            traceback.print_exception(exc, file=sys.stderr)


def check_prompting() -> str:
    """The request the app sends and the reply parser agree with the format the models learnt."""
    with tempfile.TemporaryDirectory(prefix="storyloom-self-test-") as folder:
        # The shipped profiles.json alone (package data a bundle must carry), not the writer's.
        profiles = load_profiles(Path(folder) / "no-profiles.json")
    profile = profiles.for_model(DEFAULT_MODEL)
    require(profile.style is RequestStyle.RAW_CRA, f"{DEFAULT_MODEL} gets profile {profile.name}")
    backend = OllamaBackend()  # builds the real ollama client; prepare() sends nothing
    request = ContinuationRequest(STORY, GenerationSettings(DEFAULT_MODEL), profile=profile)
    prepared = backend.prepare(request)
    require(prepared.cut.is_whole_story, "a one-line story was cut")
    require(prepared.prompt == render_chatml(continuation_messages(STORY)), "prompt differs")
    require(prepared.prompt.endswith("<|im_start|>assistant\n"), "prompt leaves no open turn")
    training = render_training_example(STORY, ANSWER, REASONING)["messages"]
    require(render_chatml(training[:-1]) == prepared.prompt, "training and app prompts differ")

    reply = training[-1]["content"]
    require(reply == render_assistant_turn(REASONING, ANSWER), "assistant turn differs")
    parser = ResponseParser(profile.scheme)
    events = [e for i in range(0, len(reply), 5) for e in parser.feed(reply[i : i + 5])]
    events += parser.close()
    streamed = (
        "".join(e.text for e in events if isinstance(e, ReasoningDelta)),
        "".join(e.text for e in events if isinstance(e, AnswerDelta)),
    )
    require(streamed == (REASONING, ANSWER), f"streamed parse gave {streamed!r}")
    require(not parser.malformations, f"well-formed reply flagged {parser.malformations}")
    whole = parse_response(reply, profile.scheme)
    require((whole.reasoning, whole.answer) == streamed, "whole and streamed parses differ")
    # The length limit counts sentences with Punkt parameters a bundle must carry as data.
    limiter = LengthLimiter(Length.SENTENCE)
    cut = limiter.feed("Mr. Hale came in. He sat.") + limiter.close()
    require(cut == "Mr. Hale came in.", f"a one-sentence limit gave {cut!r}")
    return f"profile {profile.name}, {prepared.estimated_prompt_tokens} prompt tokens estimated"


def check_settings_store() -> str:
    """The writer's choices survive a save and a fresh start (the app's INI store, in a temp dir).

    INI stores everything as text, so this also proves the values parse back to their types.
    """
    require(paths.config_dir().is_absolute(), f"config folder {paths.config_dir()}")
    editor = EditorSettings(font_family="Serif", font_size=15.5, theme=Theme.DARK)
    with tempfile.TemporaryDirectory(prefix="storyloom-self-test-") as folder:
        path = Path(folder) / "settings" / "settings.ini"  # open_settings makes the folder
        settings = open_settings(path)
        settings.set_host("http://127.0.0.1:11434")
        settings.set_model("molbal/cra-v1-guided-7b")
        settings.set_editor(editor)
        require(path.is_file(), "nothing was written")
        reread = open_settings(path)
        got = (reread.host, reread.model, reread.editor)
        expected = ("http://127.0.0.1:11434", "molbal/cra-v1-guided-7b", editor)
        require(got == expected, f"read back {got!r}")
    return "settings.ini"


def check_manuscript_files() -> str:
    """Saving, backups, the lock and the recovery journal work here (fcntl or msvcrt in a
    bundle), in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="storyloom-self-test-") as folder:
        story = Path(folder) / "story.md"
        windows = TextFormat("utf-8-sig", "\r\n")
        for text in (STORY, STORY + "\n" + ANSWER):
            save_with_backup(story, encode(text, windows), keep=3)
        loaded = read_manuscript(story)
        require(loaded.text == STORY + "\n" + ANSWER, "the saved story reads back differently")
        require(loaded.format == windows, f"saved as {loaded.format}")
        require(len(list_backups(story)) == 1, "the replaced version was not backed up")
        lock = DocumentLock.acquire(story)
        require(lock is not None and lock.still_ours(), "the manuscript could not be locked")
        lock.release()
        journal = Journal(Path(folder) / "recovery")
        journal.write(JournalEntry(STORY, story))
        require(not find_orphans(journal.folder), "a live journal was taken for an orphan")
        journal.close()
    return "atomic save, backup, lock, recovery journal"


def check_window(app: QApplication, window: MainWindow) -> str:
    require(app.desktopFileName() == APP_ID, f"desktop file name {app.desktopFileName()!r}")
    title = window.windowTitle()
    require(title == "Untitled[*] — Storyloom", f"title {title!r}")
    require(isinstance(window.centralWidget(), StoryEditor), "the editor is not in the centre")
    require(window.reasoning_dock.isVisible(), "the Reasoning panel is hidden")
    editor = window.editor
    editor.setPlainText(STORY)
    editor.moveCursor(QTextCursor.MoveOperation.End)
    editor.begin_pending()
    editor.append_pending(" " + ANSWER)
    require(editor.has_pending(), "a continuation could not be shown as pending")
    editor.reject_pending()
    require(editor.toPlainText() == STORY, "rejecting a continuation changed the writer's text")
    editor.document().setModified(False)  # the check's text: closing must not ask to save it
    require(window.continue_action.isEnabled(), "Continue is disabled at rest")
    size = window.size()
    return f"{size.width()}x{size.height()}, {app.platformName()}"


def _ml_modules_loaded() -> set[str]:
    return {m for m in sys.modules if m.split(".")[0] in ML_MODULES}


def check_no_ml_libraries(loaded_before: set[str]) -> str:
    """Starting the app loads no ML library (an installed app or bundle starts with none; a
    test process may have some already, which are not the app's doing)."""
    loaded = sorted(_ml_modules_loaded() - loaded_before)
    require(not loaded, f"the app loaded {loaded}")
    return ""


def run_self_test(argv: Sequence[str]) -> int:
    """Run every check; 0 when all pass. Reuses a QApplication that already exists (tests)."""
    # Before the QApplication exists: the check must work with no display at all.
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    started = time.perf_counter()
    loaded_before = _ml_modules_loaded()
    report = Report()
    app = create_application(argv)
    report.check("prompting round trip", check_prompting)
    report.check("settings store", check_settings_store)
    report.check("manuscript files", check_manuscript_files)
    _check_window_in_the_running_app(app, argv, report)
    report.check("no ML libraries loaded", lambda: check_no_ml_libraries(loaded_before))
    seconds = time.perf_counter() - started
    if report.failures:
        report.say(f"FAILED: {', '.join(report.failures)}")
        return 1
    report.say(f"passed ({report.passed} checks, {seconds:.2f} s)")
    return 0


def _check_window_in_the_running_app(
    app: QApplication, argv: Sequence[str], report: Report
) -> None:
    """Start the app as `storyloom` does, inspect its window once shown, then close it.

    Closing the window is the writer's way out, so a clean return from run() also proves the
    shutdown path (stop the stream, close the Ollama client on the live loop).
    """
    deadline = time.monotonic() + WINDOW_TIMEOUT_S
    poll = QTimer()
    poll.setInterval(10)

    def inspect_when_shown() -> None:
        windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if windows:
            poll.stop()
            report.check("main window", lambda: check_window(app, windows[0]))
            windows[0].close()
        elif time.monotonic() > deadline:
            poll.stop()
            report.fail("main window", CheckFailed(f"not shown within {WINDOW_TIMEOUT_S:.0f} s"))
            app.quit()  # run() returns on aboutToQuit too

    poll.timeout.connect(inspect_when_shown)
    poll.start()
    started = time.perf_counter()
    try:
        status = run(argv)
    except Exception as exc:
        report.fail("app run", exc)
        return
    finally:
        poll.stop()
    seconds = time.perf_counter() - started

    def returned_cleanly() -> str:
        require(status == 0, f"run() returned {status}")
        return f"{seconds:.2f} s from start to closed"

    report.check("app run and shutdown", returned_cleanly)


def main(argv: Sequence[str]) -> int:
    """The CLI's entry: a watchdog ends a hung self-test (status 1) instead of hanging CI."""
    if sys.stderr is not None:
        # Dumps every thread's stack first, so a hang in a bundle says where it hung.
        faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
    else:  # a windowed Windows/macOS bundle has no stderr for faulthandler to write to
        watchdog = threading.Timer(WATCHDOG_S, os._exit, args=(1,))
        watchdog.daemon = True
        watchdog.start()
    try:
        return run_self_test(argv)
    finally:
        faulthandler.cancel_dump_traceback_later()
