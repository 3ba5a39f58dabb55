"""The one table from the service layer's errors to the mutations' result types: an expected
error is answered as the member of the mutation's union it maps to, and one whose type the union
lacks stays an error, as it was before the union existed."""

from __future__ import annotations

from typing import Annotated

import pytest
import strawberry

from mailroom.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    MailroomError,
    NotFoundError,
    SettingsError,
    TransientError,
)
from mailroom.graphql.errors import Forbidden, mutation, refusal
from mailroom.sources.imap.errors import HostRefusedError

RAISED: dict[str, MailroomError] = {
    "forbidden": ForbiddenError("only an admin of the workspace may change this"),
    "conflict": ConflictError("taken"),
}


@strawberry.type
class Done:
    ok: bool


Result = Annotated[Done | Forbidden, strawberry.union("Result")]


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Mutation:
    @mutation
    async def act(self, kind: str) -> Result:
        if kind in RAISED:
            raise RAISED[kind]
        return Done(ok=True)


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)
ACT = "mutation($k: String!) { act(kind: $k) { __typename ... on Forbidden { message } } }"


async def test_an_expected_error_is_answered_as_a_member_of_the_union() -> None:
    done = await SCHEMA.execute(ACT, variable_values={"k": "none"})
    assert done.data == {"act": {"__typename": "Done"}}
    refused = await SCHEMA.execute(ACT, variable_values={"k": "forbidden"})
    assert refused.errors is None
    assert refused.data == {
        "act": {"__typename": "Forbidden", "message": RAISED["forbidden"].args[0]}
    }


async def test_an_error_the_union_lacks_stays_an_error() -> None:
    result = await SCHEMA.execute(ACT, variable_values={"k": "conflict"})
    assert result.data is None
    assert result.errors is not None and result.errors[0].message == "taken"


@pytest.mark.parametrize(
    ("error", "answer"),
    [
        (AuthError("the login was refused"), "LoginFailed"),
        (HostRefusedError("IMAP host 'x' is not a public address"), "InvalidInput"),
        (TransientError("network error"), "InvalidInput"),
        (SettingsError("no secret key"), "InvalidInput"),
        (NotFoundError("Not found"), "NotFound"),
        (MailroomError("something else"), None),
    ],
)
def test_the_table(error: MailroomError, answer: str | None) -> None:
    found = refusal(error)
    assert (type(found).__name__ if found is not None else None) == answer
    if found is not None:
        assert found.message == str(error)
