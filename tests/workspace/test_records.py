"""People and companies by hand, through the service the API calls: everything is checked
before anything is written, and a domain taken meanwhile is a conflict that leaves no trace."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mailroom.errors import ConflictError, InvalidInputError, NotFoundError
from mailroom.models import Company, Workspace
from mailroom.resolver.rules import WorkspaceRules
from mailroom.settings import Settings
from mailroom.workspace import PersonChange, create_company, create_person, records, update_company
from tests.helpers import team


async def test_domains_are_checked_before_a_company_is_made(db: Settings) -> None:
    acme = await team()
    rules = await WorkspaceRules.load(acme.workspace.id)
    with pytest.raises(InvalidInputError, match="needs a name"):
        await create_company(acme.workspace, rules, "", ["globex.com"])
    with pytest.raises(InvalidInputError, match="the workspace's own domain"):
        await create_company(acme.workspace, rules, "Us", ["acme.com"])
    globex = await create_company(acme.workspace, rules, "Globex", ["globex.com", "@GLOBEX.com"])
    with pytest.raises(ConflictError, match="belongs to another company"):
        await create_company(acme.workspace, rules, "Globex again", ["globex.com"])
    us = await Company.create(workspace=acme.workspace, name="Acme")
    await records._add_domains(us, ["acme.com"])
    with pytest.raises(NotFoundError):  # the team's own company is no contact
        await update_company(acme.workspace, rules, us.id, "Renamed", [])
    assert await Company.filter(workspace=acme.workspace).count() == 2
    assert (await update_company(acme.workspace, rules, globex.id, "Globex Corp", [])).name == (
        "Globex Corp"
    )


async def test_a_domain_taken_meanwhile_is_a_conflict_and_leaves_nothing(
    db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = await team()
    rules = await WorkspaceRules.load(acme.workspace.id)
    await create_company(acme.workspace, rules, "Globex", ["globex.com"])

    async def seen_free(
        workspace: Workspace, team: WorkspaceRules, company: Company | None, values: Sequence[str]
    ) -> list[str]:
        return list(values)  # as if another request took the domain after the check

    monkeypatch.setattr(records, "_new_domains", seen_free)
    with pytest.raises(ConflictError, match="given to another company meanwhile"):
        await create_company(acme.workspace, rules, "Initech", ["globex.com"])
    assert not await Company.filter(name="Initech").exists()


async def test_a_person_of_the_team_cannot_be_made(db: Settings) -> None:
    acme = await team()
    rules = await WorkspaceRules.load(acme.workspace.id)
    for address in ("bob@acme.com", "alice@acme.io", "new@acme.com"):
        with pytest.raises(InvalidInputError, match="own team"):
            await create_person(acme.workspace, rules, PersonChange(emails=[address]))
    with pytest.raises(InvalidInputError, match="not a valid email address"):
        await create_person(acme.workspace, rules, PersonChange(emails=["jane@"]))
    jane = await create_person(acme.workspace, rules, PersonChange("Jane", ["jane@globex.com"]))
    assert jane.name == "Jane"
