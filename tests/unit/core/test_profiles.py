"""Model profiles: the shipped table, the writer's overrides, and broken files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyloom.core.options import ModelOptions
from storyloom.core.profiles import (
    CRA_PROFILE,
    RequestStyle,
    load_profiles,
    user_profiles_path,
)
from storyloom.prompting import CRA_TAGS, THINK_TAGS


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def shipped(tmp_path: Path):
    return load_profiles(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("model", "profile", "style", "guided"),
    [
        ("molbal/cra-v1-7b", "cra", RequestStyle.RAW_CRA, False),
        ("molbal/cra-v1-32b:latest", "cra", RequestStyle.RAW_CRA, False),
        ("Molbal/CRA-v1-Guided-7b", "cra-guided", RequestStyle.RAW_CRA, True),
        ("me/cra-v2-q8:latest", "cra", RequestStyle.RAW_CRA, False),
        ("qwen2.5:7b", "generic", RequestStyle.CHAT, True),
        ("deepseek-r1:8b", "generic", RequestStyle.CHAT, True),
    ],
)
def test_shipped_rules(shipped, model: str, profile: str, style: RequestStyle, guided: bool):
    chosen = shipped.for_model(model)
    assert (chosen.name, chosen.style, chosen.guided) == (profile, style, guided)
    assert shipped.problem is None


def test_cra_profiles_carry_the_published_sampling_defaults(shipped) -> None:
    cra = shipped.for_model("molbal/cra-v1-7b")
    assert cra.options == ModelOptions(temperature=0.7, top_p=0.8, repeat_penalty=1.07)
    assert cra.scheme is CRA_TAGS and cra.expects_tags
    generic = shipped.for_model("llama3.2")
    assert generic.options == ModelOptions()  # the model's own Modelfile defaults
    assert generic.scheme is THINK_TAGS and not generic.expects_tags


def test_the_default_profile_matches_the_shipped_cra_format(shipped) -> None:
    cra = shipped.for_model("molbal/cra-v1-7b")
    assert (CRA_PROFILE.style, CRA_PROFILE.scheme) == (cra.style, cra.scheme)


def test_the_user_file_lives_in_the_config_folder() -> None:
    assert user_profiles_path().name == "profiles.json"
    assert user_profiles_path().parent.name == "Storyloom"


def test_user_rules_come_first_and_user_profiles_replace_shipped_ones(tmp_path: Path) -> None:
    user = write(
        tmp_path / "profiles.json",
        {
            "profiles": {
                "cra": {
                    "request": "raw-cra",
                    "tags": "cra",
                    "options": {"temperature": 0.9, "num_ctx": 8192},
                },
                "plain": {"request": "chat", "tags": "think", "guided": False},
            },
            "models": [{"pattern": "mistral*", "profile": "plain"}],
        },
    )
    table = load_profiles(user)
    assert table.problem is None
    assert table.for_model("mistral:7b").name == "plain"
    assert not table.for_model("mistral:7b").guided
    cra = table.for_model("molbal/cra-v1-7b")
    assert cra.options == ModelOptions(num_ctx=8192, temperature=0.9)
    assert table.for_model("molbal/cra-v1-guided-7b").name == "cra-guided"  # untouched
    assert table.for_model("qwen2.5").name == "generic"


def test_the_config_folder_file_is_read_by_default() -> None:
    path = user_profiles_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, {"models": [{"pattern": "smol*", "profile": "cra"}]})
    assert load_profiles().for_model("smol").name == "cra"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("{not json", "Expecting property name"),
        ([], "expected a JSON object"),
        ({"profiles": {"x": {"request": "telepathy"}}}, "'request' must be 'raw-cra' or 'chat'"),
        ({"profiles": {"x": {"request": "chat", "tags": "xml"}}}, "'tags' must be one of"),
        (
            {"profiles": {"x": {"request": "chat", "options": {"temperature": 9}}}},
            "profile 'x': temperature must be between 0 and 2, not 9",
        ),
        (
            {"profiles": {"x": {"request": "chat", "options": {"min_p": 0.1}}}},
            "unknown option(s): min_p",
        ),
        ({"models": [{"pattern": "*", "profile": "missing"}]}, "no profile called 'missing'"),
        ({"models": ["*"]}, "models[0]: expected"),
    ],
)
def test_a_broken_user_file_is_reported_and_the_shipped_table_used(
    tmp_path: Path, data: object, problem: str
) -> None:
    path = tmp_path / "profiles.json"
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        write(path, data)
    table = load_profiles(path)
    assert table.problem is not None
    assert str(path) in table.problem and problem in table.problem
    assert table.for_model("molbal/cra-v1-7b").name == "cra"
    assert table.for_model("qwen2.5").name == "generic"
