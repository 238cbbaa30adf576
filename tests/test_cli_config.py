"""Where the tool's connection settings come from: options > environment > file > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from cachectl.config import CLI_DEFAULT_URL, cli_config, read_cli_settings
from cachectl.errors import ConfigError


def test_defaults(tmp_path: Path) -> None:
    made = cli_config(environ={}, directory=tmp_path)
    assert made.url == CLI_DEFAULT_URL == "redis://localhost:6379/0"
    assert made.namespace == "cachectl"
    assert made.socket_timeout == made.connect_timeout == 2.0
    assert made.password is None
    assert made.stats is False


def test_url_from_cachectl_url_then_redis_url(tmp_path: Path) -> None:
    env = {"REDIS_URL": "redis://redis-url:1/0", "CACHECTL_URL": "redis://cachectl-url:1/0"}
    assert cli_config(environ=env, directory=tmp_path).url == "redis://cachectl-url:1/0"
    del env["CACHECTL_URL"]
    assert cli_config(environ=env, directory=tmp_path).url == "redis://redis-url:1/0"
    given = cli_config("redis://option:1/0", environ=env, directory=tmp_path)
    assert given.url == "redis://option:1/0"


def test_pyproject_settings_below_environment(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.cachectl]\nurl = "redis://file:1/0"\n'
        'namespace = "fromfile"\ntimeout = 5\n'
    )
    made = cli_config(environ={}, directory=tmp_path)
    assert (made.url, made.namespace, made.socket_timeout) == ("redis://file:1/0", "fromfile", 5.0)
    env = {"CACHECTL_URL": "redis://env:1/0", "CACHECTL_NAMESPACE": "fromenv"}
    made = cli_config(environ=env, directory=tmp_path)
    assert (made.url, made.namespace) == ("redis://env:1/0", "fromenv")
    made = cli_config(namespace="fromoption", timeout=0.5, environ=env, directory=tmp_path)
    assert (made.namespace, made.socket_timeout) == ("fromoption", 0.5)


def test_cachectl_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.cachectl]\nnamespace = "pyproject"\n')
    (tmp_path / "cachectl.toml").write_text('namespace = "dedicated"\n')
    settings, where = read_cli_settings(tmp_path)
    assert settings == {"namespace": "dedicated"}
    assert where.endswith("cachectl.toml")


def test_pyproject_without_our_table_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    assert read_cli_settings(tmp_path) == ({}, "")


def test_unknown_setting_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "cachectl.toml").write_text('url = "redis://x:1/0"\nnamspace = "typo"\n')
    with pytest.raises(ConfigError, match=r"unknown setting.*namspace"):
        cli_config(environ={}, directory=tmp_path)


def test_wrongly_typed_setting_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "cachectl.toml").write_text('timeout = "soon"\n')
    with pytest.raises(ConfigError, match=r"timeout .* must be a number of seconds"):
        cli_config(environ={}, directory=tmp_path)


def test_unreadable_toml_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "cachectl.toml").write_text("url = \n")
    with pytest.raises(ConfigError, match="cannot read"):
        cli_config(environ={}, directory=tmp_path)


def test_password_file_relative_to_the_settings_file(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "redis").write_text("from-file\n")
    (tmp_path / "cachectl.toml").write_text('password_file = "secrets/redis"\n')
    made = cli_config(environ={}, directory=tmp_path)
    assert made.password == "from-file"


def test_password_precedence(tmp_path: Path) -> None:
    option_file = tmp_path / "option"
    option_file.write_text("from-option\n")
    env_file = tmp_path / "env"
    env_file.write_text("from-env-file")
    env = {"CACHECTL_PASSWORD": "from-env", "CACHECTL_PASSWORD_FILE": str(env_file)}
    made = cli_config(password_file=str(option_file), environ=env, directory=tmp_path)
    assert made.password == "from-option"
    assert cli_config(environ=env, directory=tmp_path).password == "from-env-file"
    del env["CACHECTL_PASSWORD_FILE"]
    assert cli_config(environ=env, directory=tmp_path).password == "from-env"


def test_password_never_in_repr(tmp_path: Path) -> None:
    made = cli_config(environ={"CACHECTL_PASSWORD": "hunter2"}, directory=tmp_path)
    assert "hunter2" not in repr(made)
    assert "hunter2" not in made.display_url


def test_missing_or_empty_password_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read password file"):
        cli_config(password_file=str(tmp_path / "absent"), environ={}, directory=tmp_path)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        cli_config(password_file=str(tmp_path / "empty"), environ={}, directory=tmp_path)


@pytest.mark.parametrize("raw", ["soon", "0", "-1"])
def test_bad_timeout_from_environment(tmp_path: Path, raw: str) -> None:
    with pytest.raises(ConfigError, match=r"CACHECTL_TIMEOUT|timeout must be positive"):
        cli_config(environ={"CACHECTL_TIMEOUT": raw}, directory=tmp_path)


def test_memory_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a Redis URL"):
        cli_config("memory://", environ={}, directory=tmp_path)


def test_invalid_namespace_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid namespace"):
        cli_config(namespace="has space", environ={}, directory=tmp_path)


# -- settings given empty, non-finite or of the wrong type ----------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [("url", ""), ("namespace", ""), ("password_file", ""), ("namespace", "  ")],
)
def test_an_option_given_empty_is_an_error_not_the_default(
    tmp_path: Path, option: str, value: str
) -> None:
    # `--namespace "$NS"` with NS unset must not fall back to the default namespace.
    flag = "--" + option.replace("_", "-")
    with pytest.raises(ConfigError, match=f"{flag} is empty"):
        cli_config(**{option: value}, environ={}, directory=tmp_path)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        "CACHECTL_URL",
        "CACHECTL_NAMESPACE",
        "CACHECTL_PASSWORD",
        "CACHECTL_PASSWORD_FILE",
        "CACHECTL_TIMEOUT",
    ],
)
def test_a_cachectl_variable_set_but_empty_is_an_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} is set but empty"):
        cli_config(environ={name: ""}, directory=tmp_path)


def test_an_empty_redis_url_counts_as_unset(tmp_path: Path) -> None:
    # REDIS_URL is shared with other tools, which treat empty as unset.
    assert cli_config(environ={"REDIS_URL": ""}, directory=tmp_path).url == CLI_DEFAULT_URL


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0, 0.0])
def test_a_timeout_option_that_is_not_positive_and_finite(tmp_path: Path, value: float) -> None:
    with pytest.raises(ConfigError, match="--timeout must be a positive, finite number"):
        cli_config(timeout=value, environ={}, directory=tmp_path)


@pytest.mark.parametrize("raw", ["inf", "nan", "-inf", "1e999", "true"])
def test_a_timeout_variable_that_is_not_positive_and_finite(tmp_path: Path, raw: str) -> None:
    with pytest.raises(ConfigError, match="CACHECTL_TIMEOUT must be"):
        cli_config(environ={"CACHECTL_TIMEOUT": raw}, directory=tmp_path)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("timeout = inf", "timeout in .* must be a positive, finite number"),
        ("timeout = nan", "timeout in .* must be a positive, finite number"),
        ("timeout = -2", "timeout in .* must be a positive, finite number"),
        ("timeout = 0", "timeout in .* must be a positive, finite number"),
        ("timeout = true", "timeout in .* must be a number of seconds"),
        ('namespace = ""', "namespace in .* is empty"),
        ('url = ""', "url in .* is empty"),
        ('password_file = ""', "password_file in .* is empty"),
        ("namespace = 5", "namespace in .* must be a str"),
        ('url = "redis://h:99999/0"', "the port 99999 is not between 1 and 65535"),
    ],
)
def test_a_bad_value_in_the_settings_file(tmp_path: Path, line: str, match: str) -> None:
    (tmp_path / "cachectl.toml").write_text(line + "\n")
    with pytest.raises(ConfigError, match=match):
        cli_config(environ={}, directory=tmp_path)


def test_a_malformed_url_is_refused_before_connecting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"invalid URL redis://:\*\*\*@h:1/0"):
        cli_config("redis://:pa/ss@h:1/0", environ={}, directory=tmp_path)
