"""How `--help` labels what a command takes. typer 0.29 writes each value's Python type
(`<str>`, `<list[Path]>`, `<free|plus|pro|enterprise>`, and `<bool>` beside flags, which take
no value), and an argument's parameter name in lower case; Mailroom's help writes what a person
types instead: an argument by its name in capitals (`SLUG`, `PATH...`), an option by its
metavar, its choices or its name (`--host HOST`, `--plan FREE|PLUS|PRO|ENTERPRISE`), a flag by
nothing. typer offers no setting for this, so `readable()` puts it on typer's two parameter
classes, once, before the command line is read (`tests/cli/test_help.py` checks every command's
help, so an upgrade of typer that changes these methods shows there)."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption


def readable() -> None:
    TyperArgument.display_type_rich = _argument_label  # type: ignore[method-assign,assignment]
    TyperArgument.display_name_raw = property(_argument_name)  # type: ignore[assignment,method-assign]
    TyperOption.display_type_rich = _option_label  # type: ignore[method-assign,assignment]


def _argument_name(argument: TyperArgument) -> str:
    return argument.metavar or (argument.name or "").upper()


def _argument_label(argument: TyperArgument, ctx: Any) -> str | None:
    return None  # its name says what it is


def _option_label(option: TyperOption, ctx: Any) -> str | None:
    if option.is_flag or option.count:
        return None
    if option.metavar is not None:
        return option.metavar
    described = option.type_descriptor
    if described.is_choice and described.choices:
        return "|".join(str(getattr(choice, "value", choice)) for choice in described.choices)
    return (option.name or "").upper()
