"""Settings from the environment and an optional TOML file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailroom.errors import SettingsError
from mailroom.settings import Settings, load_settings

REPOSITORY = Path(__file__).resolve().parents[1]


def test_defaults_put_sqlite_under_the_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MAILROOM_CONFIG", "MAILROOM_DATABASE_URL", "MAILROOM_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite://mailroom-data/mailroom.sqlite3"
    assert settings.is_sqlite and settings.http_port == 8000
    assert settings.limits.max_bytes == 50 * 1024 * 1024


def test_toml_file_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "mailroom.toml"
    config.write_text('http_port = 9100\ndata_dir = "/srv/mail"\nmax_message_bytes = 1000\n')
    monkeypatch.setenv("MAILROOM_CONFIG", str(config))
    monkeypatch.delenv("MAILROOM_DATABASE_URL", raising=False)
    monkeypatch.setenv("MAILROOM_HTTP_PORT", "9200")
    settings = load_settings()
    assert settings.http_port == 9200  # the environment wins
    assert settings.database_url == "sqlite:///srv/mail/mailroom.sqlite3"
    assert settings.limits.max_bytes == 1000


def test_the_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILROOM_CONFIG", str(REPOSITORY / "config" / "mailroom.example.toml"))
    assert load_settings().ingest_batch_size == 500


def test_bad_settings_are_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAILROOM_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="not a file"):
        load_settings()
    monkeypatch.delenv("MAILROOM_CONFIG")
    monkeypatch.setenv("MAILROOM_HTTP_PORT", "eighty")
    with pytest.raises(SettingsError, match="http_port"):
        load_settings()


def test_a_key_that_is_no_setting_is_named_with_the_nearest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "mailroom.toml"
    monkeypatch.setenv("MAILROOM_CONFIG", str(config))
    config.write_text('http_port = 9100\nmail_domian = "mail.acme.com"\n')
    nearest = "'mail_domian' is not a setting; did you mean 'mail_domain'"
    with pytest.raises(SettingsError, match=nearest):
        load_settings()
    config.write_text("[smtp]\nport = 25\n")
    with pytest.raises(SettingsError, match="'smtp' is not a setting"):
        load_settings()
    config.write_text("colour = 'blue'\n")
    with pytest.raises(SettingsError, match=r"'colour' is not a setting$"):
        load_settings()
    config.write_text("http_port = \n")
    with pytest.raises(SettingsError, match="cannot read the config file"):
        load_settings()


def test_the_example_config_names_every_setting() -> None:
    """Each setting is in the example, set or commented out with its default."""
    text = (REPOSITORY / "config" / "mailroom.example.toml").read_text()
    named = set(re.findall(r"^#? ?([a-z_]+) =", text, re.MULTILINE))
    assert set(Settings.model_fields) - named == set()
