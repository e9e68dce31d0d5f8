"""The Qt-free settings: option rules, stored values over profile defaults, num_ctx's default."""

from __future__ import annotations

import pytest

from storyloom.core.backend import GenerationSettings
from storyloom.core.length import Length
from storyloom.core.memory import default_num_ctx, total_memory_bytes
from storyloom.core.models import ModelInfo
from storyloom.core.options import ModelOptions, OptionError, parse_option
from storyloom.core.profiles import Profile, RequestStyle
from storyloom.core.settings import (
    AppSettings,
    EditorSettings,
    MemoryStore,
    Theme,
    check_host,
)

GIB = 1024**3
CRA = Profile(
    "cra",
    RequestStyle.RAW_CRA,
    options=ModelOptions(temperature=0.7, top_p=0.8, repeat_penalty=1.07),
)
QWEN_7B = ModelInfo("molbal/cra-v1-7b:latest", context_length=32768, kv_bytes_per_token=57344)


def settings(memory: int | None = 16 * GIB) -> AppSettings:
    return AppSettings(MemoryStore(), total_memory=lambda: memory)


@pytest.mark.parametrize(
    ("name", "value", "parsed"),
    [
        ("num_ctx", "8192", 8192),
        ("num_ctx", 8192.0, 8192),
        ("temperature", "0.7", 0.7),
        ("top_k", 40, 40),
        ("seed", "0", 0),
        ("keep_alive", "30m", "30m"),
        ("keep_alive", " 1h30m ", "1h30m"),
        ("keep_alive", "-1", "-1"),
        ("temperature", "", None),
        ("temperature", None, None),
    ],
)
def test_parse_option(name: str, value: object, parsed: object) -> None:
    assert parse_option(name, value) == parsed


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("num_ctx", 100, "num_ctx must be between 512 and 1048576, not 100"),
        ("num_ctx", "8k", "num_ctx must be a number, not '8k'"),
        ("num_ctx", 8192.5, "num_ctx must be a whole number"),
        ("temperature", 2.5, "temperature must be between 0 and 2"),
        ("top_p", -0.1, "top_p must be between 0 and 1"),
        ("repeat_penalty", True, "repeat_penalty must be a number"),
        ("keep_alive", "soon", "keep_alive 'soon' is not a duration"),
        ("keep_alive", "-1 m", "is not a duration"),
        ("num_predict", "", "num_predict must be set"),
    ],
)
def test_bad_values_say_what_is_wrong(name: str, value: object, message: str) -> None:
    with pytest.raises(OptionError, match=message.replace("(", r"\(")):
        parse_option(name, value)


def test_the_reply_must_leave_room_for_the_story() -> None:
    with pytest.raises(OptionError, match=r"num_predict \(4096\) must be smaller than num_ctx"):
        ModelOptions.from_mapping({"num_ctx": 4096, "num_predict": 4096})


def test_keep_alive_goes_out_as_seconds_or_a_duration() -> None:
    assert ModelOptions(keep_alive="-1").keep_alive_value() == -1
    assert ModelOptions(keep_alive="300").keep_alive_value() == 300
    assert ModelOptions(keep_alive="30m").keep_alive_value() == "30m"
    assert ModelOptions().keep_alive_value() is None


def test_defaults_come_from_the_profile() -> None:
    s = settings()
    assert s.model == "molbal/cra-v1-7b"
    assert s.host == ""
    assert s.options("molbal/cra-v1-7b", CRA) == CRA.options
    assert s.generation("molbal/cra-v1-7b", CRA, QWEN_7B) == GenerationSettings(
        model="molbal/cra-v1-7b",
        num_ctx=32768,
        num_predict=2048,
        temperature=0.7,
        top_p=0.8,
        repeat_penalty=1.07,
    )


def test_only_what_differs_from_the_profile_is_stored() -> None:
    s = settings()
    chosen = ModelOptions(num_ctx=8192, temperature=0.7, top_p=None, repeat_penalty=1.07, seed=7)
    s.set_options("molbal/cra-v1-7b", chosen, CRA)
    group = "models/molbal%2Fcra-v1-7b%3Alatest"
    assert s.store.data == {  # type: ignore[attr-defined]
        f"{group}/num_ctx": 8192,
        f"{group}/top_p": "",  # cleared: the model's own default rather than the profile's
        f"{group}/seed": 7,
    }
    assert s.options("Molbal/CRA-v1-7b:latest", CRA) == chosen  # the same model
    s.set_options("molbal/cra-v1-7b", CRA.options, CRA)  # what "Reset to defaults" saves
    assert s.store.data == {}  # type: ignore[attr-defined]
    assert s.options("molbal/cra-v1-7b", CRA) == CRA.options


def test_ini_strings_read_back_as_numbers_and_junk_falls_back() -> None:
    s = settings()
    group = "models/smol%3Alatest"
    s.store.set_value(f"{group}/num_ctx", "4096")
    s.store.set_value(f"{group}/temperature", "0.25")
    s.store.set_value(f"{group}/top_k", "lots")  # hand-edited nonsense: ignored
    options = s.options("smol", CRA)
    assert (options.num_ctx, options.temperature, options.top_k) == (4096, 0.25, None)


def test_stored_values_that_contradict_each_other_fall_back_to_the_profile() -> None:
    s = settings()
    group = "models/smol%3Alatest"
    s.store.set_value(f"{group}/num_ctx", 1024)
    s.store.set_value(f"{group}/num_predict", 2048)
    assert s.options("smol", CRA) == CRA.options


@pytest.mark.parametrize(
    ("trained", "memory", "per_token", "expected"),
    [
        (32768, 16 * GIB, 57344, 32768),  # fits: the trained context
        (32768, 4 * GIB, 57344, 18432),  # 1 GiB of KV cache / 56 KiB, in steps of 1024
        (131072, 64 * GIB, 262144, 65536),  # a 32B model on 64 GiB
        (32768, 1 * GIB, 57344, 4096),  # 256 MiB / 56 KiB = 4681 -> 4096
        (32768, GIB // 8, 57344, 2048),  # never below 2048
        (None, 64 * GIB, None, 16384),  # trained context unknown yet
        (32768, None, 57344, 32768),  # memory unknown: the trained context
        (8192, 16 * GIB, None, 8192),  # shape unknown: Qwen2.5-7B's
    ],
)
def test_num_ctx_default_is_memory_aware(
    trained: int | None, memory: int | None, per_token: int | None, expected: int
) -> None:
    assert default_num_ctx(trained, memory, per_token) == expected


def test_auto_num_ctx_uses_the_model_and_the_machine() -> None:
    assert settings(16 * GIB).auto_num_ctx(QWEN_7B) == 32768
    assert settings(4 * GIB).auto_num_ctx(QWEN_7B) == 18432
    assert settings(16 * GIB).auto_num_ctx(None) == 16384
    chosen = ModelOptions(num_ctx=8192, temperature=0.7, top_p=0.8, repeat_penalty=1.07)
    s = settings(16 * GIB)
    s.set_options("molbal/cra-v1-7b", chosen, CRA)
    assert s.generation("molbal/cra-v1-7b", CRA, QWEN_7B).num_ctx == 8192  # the writer's


def test_this_machine_reports_its_memory() -> None:
    memory = total_memory_bytes()
    assert memory is not None and memory > 256 * 1024**2


def test_host_is_checked_and_normalised() -> None:
    assert check_host("  http://127.0.0.1:11434/ ") == "http://127.0.0.1:11434"
    assert check_host("gpu-box:11434") == "gpu-box:11434"
    assert check_host("") == ""
    with pytest.raises(OptionError, match="invalid port"):
        check_host("localhost:port")
    with pytest.raises(OptionError, match="not a server address"):
        check_host("ftp://files")
    s = settings()
    s.set_host("http://10.0.0.5:11434/")
    assert s.host == "http://10.0.0.5:11434"
    s.set_host("")
    assert "connection/host" not in s.store.data  # type: ignore[attr-defined]


def test_editor_settings_round_trip_and_reset() -> None:
    s = settings()
    assert s.editor == EditorSettings("", 12.5, Theme.SYSTEM)
    s.set_editor(EditorSettings("Literata", 15.0, Theme.DARK))
    s.set_model("qwen2.5:7b")
    assert s.editor == EditorSettings("Literata", 15.0, Theme.DARK)
    s.store.set_value("editor/theme", "purple")  # an unknown theme: the default
    s.store.set_value("editor/font_size", "500")
    assert s.editor == EditorSettings("Literata", 12.5, Theme.SYSTEM)
    s.set_editor(EditorSettings())
    assert set(s.store.data) == {"model/current"}  # type: ignore[attr-defined]


def test_the_length_is_remembered_and_a_bad_value_falls_back() -> None:
    chosen = settings()
    assert chosen.length is Length.UNLIMITED
    chosen.set_length(Length.FEW)
    assert chosen.length is Length.FEW
    assert chosen.store.value("writing/length") == "few"
    chosen.set_length(Length.UNLIMITED)  # the default is not stored
    assert chosen.store.value("writing/length") is None
    chosen.store.set_value("writing/length", "a novel")
    assert chosen.length is Length.UNLIMITED
