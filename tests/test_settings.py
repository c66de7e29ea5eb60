from __future__ import annotations

from pathlib import Path

import pytest
from aicarbon.settings import SettingsError, resolve


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src" / "deep").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.aicarbon]\npue = 1.3\ncountry = "SWE"\n'
    )
    return root


@pytest.fixture
def user_config(tmp_path: Path) -> Path:
    path = tmp_path / "xdg" / "aicarbon" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('pue = 1.2\ncountry = "DEU"\nwue = 0.4\n')
    return path


def test_precedence_flag_then_env_then_project_then_user_then_default(
    project: Path, user_config: Path
) -> None:
    cwd = project / "src" / "deep"  # the nearest parent's pyproject.toml is found
    env = {"XDG_CONFIG_HOME": str(user_config.parent.parent)}
    s = resolve({}, environ=env, cwd=cwd)
    assert (s["pue"].value, s["country"].value) == (1.3, "SWE")  # project beats user
    assert "[tool.aicarbon]" in s["pue"].origin
    assert (s["wue"].value, s["wue"].origin) == (0.4, str(user_config))  # only the user file has it
    assert (s["water-intensity"].value, s["water-intensity"].origin) == (None, "default")
    s = resolve({}, environ={**env, "AICARBON_PUE": "1.4"}, cwd=cwd)
    assert (s["pue"].value, s["pue"].origin) == (1.4, "AICARBON_PUE")
    s = resolve({"pue": 1.5}, environ={**env, "AICARBON_PUE": "1.4"}, cwd=cwd)
    assert (s["pue"].value, s["pue"].origin) == (1.5, "--pue")


def test_defaults_without_any_source(tmp_path: Path) -> None:
    s = resolve({}, environ={"XDG_CONFIG_HOME": str(tmp_path / "none")}, cwd=tmp_path)
    assert {k: v.value for k, v in s.items()} == {
        "country": None,
        "region": None,
        "carbon-intensity": None,
        "pue": 1.0,
        "wue": 0.0,
        "water-intensity": None,
        "embodied-kg": None,
        "lifespan": 4.0,
    }


def test_aicarbon_config_variable_names_the_user_file(tmp_path: Path) -> None:
    config = tmp_path / "my.toml"
    config.write_text("carbon_intensity = 123\n")  # underscores are accepted too
    s = resolve({}, environ={"AICARBON_CONFIG": str(config)}, cwd=tmp_path)
    assert (s["carbon-intensity"].value, s["carbon-intensity"].origin) == (123.0, str(config))


@pytest.mark.parametrize(
    ("flags", "env", "needle"),
    [
        ({"pue": 0.99}, {}, "pue must be at least 1.0"),
        ({}, {"AICARBON_PUE": "abc"}, "pue must be a number; got 'abc' from AICARBON_PUE"),
        ({"carbon-intensity": -1.0}, {}, "carbon-intensity must not be negative"),
        ({}, {"AICARBON_WUE": "-0.1"}, "wue must not be negative"),
    ],
)
def test_bad_values_are_refused_with_their_origin(
    tmp_path: Path, flags: dict, env: dict, needle: str
) -> None:
    with pytest.raises(SettingsError, match=needle):
        resolve(flags, environ={"XDG_CONFIG_HOME": str(tmp_path / "none"), **env}, cwd=tmp_path)


def test_unknown_config_key_and_bad_toml_are_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.aicarbon]\npeu = 1.2\n")
    with pytest.raises(SettingsError, match="unknown key 'peu'.*valid keys: country"):
        resolve({}, environ={"XDG_CONFIG_HOME": str(tmp_path / "none")}, cwd=tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.aicarbon\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        resolve({}, environ={"XDG_CONFIG_HOME": str(tmp_path / "none")}, cwd=tmp_path)


def test_a_toml_value_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.aicarbon]\npue = true\n")
    with pytest.raises(SettingsError, match="pue must be a number; got True"):
        resolve({}, environ={"XDG_CONFIG_HOME": str(tmp_path / "none")}, cwd=tmp_path)
