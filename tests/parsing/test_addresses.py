"""The address-list parser: strict where a wrong reading would invent a participant."""

from __future__ import annotations

import pytest

from mailroom.envelope import Address
from mailroom.parsing.addresses.lists import normalize_address, parse_address_list


def addresses(value: str) -> list[tuple[str, str | None]]:
    found, _ = parse_address_list(value)
    return [(a.address, a.name) for a in found]


def defects(value: str) -> list[str]:
    return parse_address_list(value)[1]


# --- the CVE-2023-27043 class: a header that can be read two ways yields nothing unmeant ------


@pytest.mark.parametrize(
    "value",
    [
        "alice@example.org)<bob@example.org>",
        "alice@example.org)<bob@example.org>, ",
        "<alice@example.org> <bob@example.org>",
        "<alice@example.org> bob@example.org",
        "Alice <alice@example.org> trailing",
        "Alice <alice@example.org",
        "Alice alice@example.org>",
        'Alice "alice@example.org <bob@example.org>',
        "(Alice <alice@example.org>",
        "Alice <alice@<bob@example.org>>",
        "[alice@example.org",
        "alice@example.org]",
        "alice@example.org\\",
    ],
)
def test_ambiguous_elements_yield_no_address(value: str) -> None:
    found, problems = parse_address_list(value)
    assert found == []
    assert problems and all(problem.startswith("dropped ") for problem in problems)


def test_unbalanced_parenthesis_drops_only_its_element() -> None:
    value = "carol@example.org, alice@example.org)<bob@example.org>, dave@example.org"
    assert addresses(value) == [("carol@example.org", None), ("dave@example.org", None)]
    assert defects(value) == [
        "dropped 'alice@example.org)<bob@example.org>': unexpected ')'",
    ]


def test_unterminated_quote_swallows_the_rest_of_the_header() -> None:
    # One reading puts everything after the quote inside it: nothing there can be trusted.
    value = 'carol@example.org, "Eve <eve@example.org>, alice@example.org'
    assert addresses(value) == [("carol@example.org", None)]
    assert "unbalanced" in defects(value)[0]


def test_display_name_that_looks_like_an_address_is_never_the_address() -> None:
    assert addresses("alice@example.org <bob@example.org>") == [
        ("bob@example.org", "alice@example.org")
    ]
    assert addresses('"alice@example.org" <bob@example.org>') == [
        ("bob@example.org", "alice@example.org")
    ]
    assert addresses('"alice@example.org"') == []


def test_text_after_angle_addr_is_a_defect_but_a_comment_is_not() -> None:
    assert addresses("Bob <bob@example.org> (work)") == [("bob@example.org", "Bob")]
    assert defects("Bob <bob@example.org> x@y.org") == [
        "dropped 'Bob <bob@example.org> x@y.org': text after '>'"
    ]


# --- ordinary shapes --------------------------------------------------------------------------


def test_plain_list_is_lowercased_and_keeps_names() -> None:
    value = 'Alice Martin <Alice@Example.ORG>, "Bob" <BOB@example.org>, carol@EXAMPLE.org'
    assert addresses(value) == [
        ("alice@example.org", "Alice Martin"),
        ("bob@example.org", "Bob"),
        ("carol@example.org", None),
    ]


def test_quoted_name_with_comma() -> None:
    assert addresses('"Doe, John" <john@x.org>, jane@x.org') == [
        ("john@x.org", "Doe, John"),
        ("jane@x.org", None),
    ]


def test_unquoted_comma_in_display_name_joins_the_name() -> None:
    assert addresses("Doe, John <john@x.org>") == [("john@x.org", "Doe, John")]
    assert addresses("Doe, Jr., John <john@x.org>, a@b.org") == [
        ("john@x.org", "Doe, Jr., John"),
        ("a@b.org", None),
    ]
    assert defects("Doe, John <john@x.org>") == []


def test_bare_word_not_followed_by_a_name_addr_is_dropped() -> None:
    assert addresses("Alice, bob@x.org") == [("bob@x.org", None)]
    assert defects("Alice, bob@x.org") == ["dropped 'Alice': not an address"]
    assert defects("localrecipient") == ["dropped 'localrecipient': not an address"]


def test_quoted_pairs_in_display_name() -> None:
    assert addresses(r'"John \"Johnny\" Doe" <john@x.org>') == [("john@x.org", 'John "Johnny" Doe')]


def test_obsolete_comment_name() -> None:
    assert addresses("bob@example.org (Bob Smith)") == [("bob@example.org", "Bob Smith")]


def test_nested_comments() -> None:
    value = "(a (nested (deep)) comment) bob@example.org (Bob (the) Builder)"
    assert addresses(value) == [("bob@example.org", "a (nested (deep)) comment Bob (the) Builder")]
    assert addresses("Bob (x (y) z) <bob@example.org>") == [("bob@example.org", "Bob")]
    assert addresses("(only a comment)") == []
    assert defects("(only a comment)") == []


def test_comments_between_address_tokens() -> None:
    assert addresses("bob(c1)@(c2)example.org") == [("bob@example.org", "c1 c2")]
    assert addresses("john . doe @ example . org") == [("john.doe@example.org", None)]


def test_groups() -> None:
    assert addresses("Team: a@x.org, B <b@y.org>;") == [("a@x.org", None), ("b@y.org", "B")]
    assert addresses("Team: a@x.org;, c@z.org") == [("a@x.org", None), ("c@z.org", None)]
    assert defects("Team: a@x.org, B <b@y.org>;") == []


@pytest.mark.parametrize(
    "value",
    ["undisclosed-recipients:;", "Undisclosed-Recipients: ;", "undisclosed-recipients:", ":;"],
)
def test_empty_group_yields_nothing_and_no_defect(value: str) -> None:
    assert parse_address_list(value) == ([], [])


def test_nested_group_is_dropped() -> None:
    assert addresses("A: B: x@y.org;;") == []
    assert "unexpected ':'" in defects("A: B: x@y.org;;")[0]


def test_semicolon_outside_a_group_separates_with_a_defect() -> None:
    assert addresses("a@b.org; c@d.org") == [("a@b.org", None), ("c@d.org", None)]
    assert defects("a@b.org; c@d.org") == ["';' used as a list separator"]


def test_route_addresses() -> None:
    assert addresses("<@relay1.org,@relay2.org:User@Example.ORG>") == [("user@example.org", None)]
    assert addresses("Bob <@relay.org:bob@example.org>") == [("bob@example.org", "Bob")]
    assert addresses("<mailto:bob@example.org>") == []


def test_empty_list_elements_are_skipped() -> None:
    assert parse_address_list(" , ,a@b.org,,") == ([Address("a@b.org")], [])
    assert parse_address_list("") == ([], [])


def test_quoted_local_parts() -> None:
    assert addresses('"john doe"@Example.org') == [('"john doe"@example.org', None)]
    assert addresses('"john"@example.org') == [("john@example.org", None)]
    assert addresses('"a@b"@example.org') == [('"a@b"@example.org', None)]
    assert addresses('""@example.org') == []


def test_words_without_dots_are_not_a_local_part() -> None:
    assert addresses("john smith@example.org") == []
    assert addresses('"Bob" bob@example.org') == []


# --- decoding ---------------------------------------------------------------------------------


def test_encoded_words_in_names() -> None:
    assert addresses("=?UTF-8?B?0JjQstCw0L0=?= <ivan@example.ru>") == [("ivan@example.ru", "Иван")]
    assert addresses("=?iso-8859-1?Q?J=FCrgen_M=FCller?= <j@x.de>") == [("j@x.de", "Jürgen Müller")]
    # Adjacent encoded words lose the whitespace between them (RFC 2047 6.2).
    assert addresses("=?utf-8?q?a?= =?utf-8?q?b?= <ab@x.org>") == [("ab@x.org", "ab")]


def test_encoded_words_inside_quoted_strings_as_clients_write_them() -> None:
    assert addresses('"=?utf-8?q?Doe,_John?=" <j@x.org>') == [("j@x.org", "Doe, John")]
    assert addresses('"=?GB2312?B?1cXPyMn6?=" <z@x.cn>') == [("z@x.cn", "张先生")]


def test_encoded_comma_does_not_split_the_list() -> None:
    value = "=?iso-8859-1?Q?Last=DFlName=2C_FirstName?= <comma.name@example.com>"
    assert addresses(value) == [("comma.name@example.com", "LastßlName, FirstName")]


def test_multibyte_character_split_across_encoded_words() -> None:
    # "é" is C3 A9 in UTF-8; senders cut between the two bytes.
    assert addresses("=?utf-8?B?Sm9zww==?= =?utf-8?B?qQ==?= <j@x.org>") == [("j@x.org", "José")]


def test_raw_8bit_utf8_name_and_address() -> None:
    raw = "Jürgen <jürgen@bücher.example>".encode().decode("ascii", "surrogateescape")
    assert addresses(raw) == [("jürgen@bücher.example", "Jürgen")]


def test_raw_8bit_legacy_name_uses_the_fallback_charset() -> None:
    raw = "Jürgen <j@x.de>".encode("latin-1").decode("ascii", "surrogateescape")
    found, _ = parse_address_list(raw, "iso-8859-1")
    assert found == [Address("j@x.de", "Jürgen")]
    found, _ = parse_address_list(raw)
    assert found == [Address("j@x.de", "Jürgen")]  # Windows-1252 by default


def test_address_made_of_guessed_bytes_is_dropped() -> None:
    raw = b"\xb4google@example.com, ok@example.com".decode("ascii", "surrogateescape")
    found, problems = parse_address_list(raw)
    assert found == [Address("ok@example.com")]
    assert problems == ["dropped '´google@example.com': undecodable 8-bit address"]


# --- domains ----------------------------------------------------------------------------------


def test_idn_domains_are_stored_as_unicode_u_labels() -> None:
    assert addresses("a@xn--bcher-kva.example") == [("a@bücher.example", None)]
    assert addresses("a@BÜCHER.example") == [("a@bücher.example", None)]
    assert addresses("Иван <ivan@пример.рф>") == [("ivan@пример.рф", "Иван")]
    assert addresses("a@ＥＸＡＭＰＬＥ．org") == [("a@example.org", None)]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a@b..org", "invalid domain 'b..org'"),
        ("a@example.org.", "empty label in domain 'example.org.'"),
        ("a@ex_ample.org", "invalid domain 'ex_ample.org'"),
        ("a@-example.org", "invalid domain '-example.org'"),
        ("a@☃.net", "invalid domain '☃.net'"),
        ("a@", "invalid domain ''"),
        ("@example.org", "empty local part"),
        ("a@b@c.org", "more than one '@'"),
    ],
)
def test_invalid_domains_are_dropped_with_a_defect(value: str, reason: str) -> None:
    assert parse_address_list(value) == ([], [f"dropped {value!r}: {reason}"])


def test_domain_literals() -> None:
    assert addresses("a@[192.0.2.1]") == [("a@[192.0.2.1]", None)]
    assert addresses("a@[IPv6:2001:db8::1]") == [("a@[ipv6:2001:db8::1]", None)]
    assert addresses("a@[not an ip]") == []


# --- volume and garbage -----------------------------------------------------------------------


def test_ten_thousand_addresses() -> None:
    value = ", ".join(f'"User {i}" <user{i}@example{i % 50}.org>' for i in range(10_000))
    found, problems = parse_address_list(value)
    assert len(found) == 10_000
    assert problems == []
    assert found[9_999] == Address("user9999@example49.org", "User 9999")


def test_ten_thousand_addresses_through_the_full_parser() -> None:
    # Comments keep the fast path out, so the tokenizer and list parser do the work.
    value = ", ".join(f"user{i}@example.org (User {i})" for i in range(10_000))
    found, problems = parse_address_list(value)
    assert len(found) == 10_000
    assert problems == []


def test_defects_are_capped_for_garbage_lists() -> None:
    found, problems = parse_address_list(", ".join(["a@b..org"] * 500))
    assert found == []
    assert len(problems) == 11
    assert problems[-1] == "490 more elements dropped"


@pytest.mark.parametrize(
    "value",
    ["(" * 5000, '"' * 5001, "<" * 5000, ">" * 5000, "a:" * 5000, "@" * 5000, "\x00\x01\x7f"],
)
def test_garbage_yields_nothing(value: str) -> None:
    found, _ = parse_address_list(value)
    assert found == []


def test_folded_header_value() -> None:
    assert addresses("Alice\r\n <alice@example.org>,\r\n\tbob@example.org") == [
        ("alice@example.org", "Alice"),
        ("bob@example.org", None),
    ]


# --- normalize_address ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alice@Example.ORG", "alice@example.org"),
        ("<alice@example.org>", "alice@example.org"),
        (" alice@example.org ", "alice@example.org"),
        ("a@xn--bcher-kva.example", "a@bücher.example"),
        ("<@relay.org:a@example.org>", "a@example.org"),
        ("Alice <alice@example.org>", None),
        ("a@example.org, b@example.org", None),
        ("alice", None),
        ("alice@", None),
        ("alice@exa mple.org", None),
        ("", None),
    ],
)
def test_normalize_address(raw: str, expected: str | None) -> None:
    assert normalize_address(raw) == expected
