"""The checker that keeps the fake Gmail faithful: it must refuse what Google's discovery
document does not allow, or the fake could drift from the real API unseen."""

from __future__ import annotations

import pytest

from fakes.discovery import SchemaError, check_error, gmail
from fakes.gmail import NOT_FOUND, UNAUTHENTICATED

GET = "gmail.users.messages.get"
MESSAGE = {
    "id": "18c0000000001eef",
    "threadId": "18c0000000001eef",
    "labelIds": ["INBOX"],
    "historyId": "1003",
    "internalDate": "1700000001000",
    "sizeEstimate": 120,
    "raw": "RnJvbTogYUBleGFtcGxlLmNvbQ0KDQpIaQ==",
}


def test_a_message_as_gmail_sends_it_passes():
    gmail().check_response(GET, MESSAGE)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"threadID": "x"}, "unknown property 'threadID'"),
        ({"historyId": 1003}, "expected a string, got 1003"),
        ({"historyId": "-3"}, "not a uint64 written as a string"),
        ({"internalDate": "yesterday"}, "not an int64"),
        ({"sizeEstimate": "120"}, "expected an integer"),
        ({"sizeEstimate": 2**40}, "outside int32"),
        ({"labelIds": "INBOX"}, "expected an array"),
        ({"raw": "not base64!"}, "not base64"),
        ({"payload": {"headers": [{"name": "To", "valu": "x"}]}}, "unknown property 'valu'"),
    ],
)
def test_a_body_outside_the_schema_is_refused(change: dict[str, object], complaint: str):
    with pytest.raises(SchemaError, match=complaint):
        gmail().check_response(GET, {**MESSAGE, **change})


def test_nested_references_are_followed():
    history = {
        "historyId": "9",
        "history": [{"id": "8", "labelsAdded": [{"message": {"id": "a"}, "labelIds": ["X"]}]}],
    }
    gmail().check_response("gmail.users.history.list", history)
    history["history"][0]["labelsAdded"][0]["labelIDs"] = ["X"]  # type: ignore[index]
    with pytest.raises(SchemaError, match="labelIDs"):
        gmail().check_response("gmail.users.history.list", history)


@pytest.mark.parametrize(
    ("params", "complaint"),
    [
        ([("fromat", "raw")], "no query parameter 'fromat'"),
        ([("format", "rawest")], "none of"),
        ([("format", "raw"), ("format", "minimal")], "more than once"),
    ],
)
def test_request_parameters_are_checked(params: list[tuple[str, str]], complaint: str):
    with pytest.raises(SchemaError, match=complaint):
        gmail().check_parameters(GET, params, ["userId", "id"])


def test_repeated_parameters_pass_where_the_method_repeats_them():
    gmail().check_parameters(
        "gmail.users.history.list",
        [("startHistoryId", "5"), ("historyTypes", "messageAdded"), ("historyTypes", "labelAdded")],
        ["userId"],
    )


def test_error_bodies_have_googles_shape():
    check_error(NOT_FOUND.body)
    check_error(UNAUTHENTICATED.body)
    with pytest.raises(SchemaError):
        check_error({"error": {"code": 404, "mesage": "Not Found"}})
    with pytest.raises(SchemaError):
        check_error({"error": {"code": 404, "message": "x", "errors": [{"domain": "global"}]}})
