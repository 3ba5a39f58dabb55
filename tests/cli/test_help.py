"""What `mailroom --help` and `--version` say, and how little they load to say it."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperCommand, TyperGroup

from mailroom.cli import app
from tests.cli.runner import mailroom_in

# Libraries that only a command's work needs: loading any of them to print help or the version
# is what made `mailroom --help` take most of a second.
HEAVY = {
    "aiosmtpd",
    "aiosqlite",
    "asyncpg",
    "dateparser",
    "dkim",
    "dns",
    "imapclient",
    "pydantic",
    "pydantic_settings",
    "selectolax",
    "starlette",
    "strawberry",
    "tortoise",
    "uvicorn",
    "uvloop",
}
# A type as typer writes it (`<bool>`, `<list[Path]>`, `<free|plus>`), not as a person would.
TYPE_LABEL = re.compile(r"<[A-Za-z][\w\[\]|]*>")


def _commands(
    command: TyperCommand | TyperGroup, path: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    found = [path]
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_version(tmp_path: Path) -> None:
    result = mailroom_in(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"mailroom {importlib.metadata.version('mailroom')}\n"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "mailroom")
def test_every_help_has_an_example_and_its_settings(tmp_path: Path, path: tuple[str, ...]) -> None:
    result = mailroom_in(tmp_path, *path, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert not TYPE_LABEL.search(text), TYPE_LABEL.findall(text)
    if isinstance(_find(path), TyperGroup):
        return  # a group's help lists its commands, whose own help has the rest
    assert "Example" in text, text
    assert "MAILROOM_" in text or "Settings: none" in text, text
    assert list(tmp_path.iterdir()) == []


def _find(path: tuple[str, ...]) -> TyperCommand | TyperGroup:
    command = typer.main.get_command(app)
    for name in path:
        assert isinstance(command, TyperGroup)
        command = command.commands[name]
    return command


def test_serve_help_names_its_ports(tmp_path: Path) -> None:
    text = mailroom_in(tmp_path, "serve", "--help").stdout
    for setting in ("MAILROOM_HTTP_PORT", "MAILROOM_SMTP_PORT", "8000", "2525"):
        assert setting in text, text


def test_ingest_help_reads_as_its_usage(tmp_path: Path) -> None:
    text = mailroom_in(tmp_path, "ingest", "--help").stdout
    assert "SLUG" in text and "MEMBER_EMAIL" in text and "PATH..." in text, text
    assert "mailroom ingest acme alice@acme.com" in text


@pytest.mark.parametrize("args", [["--help"], ["--version"], []])
def test_help_and_version_load_no_heavy_library(tmp_path: Path, args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mailroom", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (0, 2), result.stderr  # no arguments: the help, exit code 2
    loaded = {
        line.rpartition("|")[2].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert not loaded & HEAVY, sorted(loaded & HEAVY)
