"""What an address says about its owner, and names from display names and addresses."""

from __future__ import annotations

import pytest

from mailroom.parsing.addresses.owners import (
    company_name,
    is_free_mail,
    is_role,
    registrable_domain,
    within,
)
from mailroom.resolver.names import derived_name, real_name


@pytest.mark.parametrize(
    ("domain", "free"),
    [
        ("gmail.com", True),
        ("googlemail.com", True),
        ("outlook.com", True),
        ("proton.me", True),
        ("yahoo.co.uk", True),
        ("acme.com", False),
        ("mail.acme.co.uk", False),
    ],
)
def test_free_mail_comes_from_the_maintained_list(domain: str, free: bool) -> None:
    assert is_free_mail(domain) is free


@pytest.mark.parametrize(
    ("domain", "registrable"),
    [
        ("acme.com", "acme.com"),
        ("mail.eu.acme.co.uk", "acme.co.uk"),
        ("co.uk", None),
        ("corp.local", None),
        ("[192.0.2.1]", None),
        ("bücher.de", "bücher.de"),
    ],
)
def test_registrable_domain_follows_the_public_suffix_list(
    domain: str, registrable: str | None
) -> None:
    assert registrable_domain(domain) == registrable


@pytest.mark.parametrize(
    "local",
    [
        "info",
        "support",
        "no-reply",
        "noreply",
        "do_not_reply",
        "mailer-daemon",
        "billing2",
        "notifications+abc",
        "bounces-123",
        "postmaster",
    ],
)
def test_role_and_automated_local_parts(local: str) -> None:
    assert is_role(local)


@pytest.mark.parametrize("local", ["jane.doe", "jdoe", "infoman", "salesforce.admin.jane"])
def test_personal_local_parts(local: str) -> None:
    assert not is_role(local)


def test_within_covers_subdomains_only() -> None:
    parents = {"hooli.com"}
    assert within("hooli.com", parents) and within("eu.mail.hooli.com", parents)
    assert not within("nothooli.com", parents)


@pytest.mark.parametrize(
    ("display", "address", "name"),
    [
        ("Jane Doe", "jane@x.com", "Jane Doe"),
        ("  'Jane  Doe' ", "jane@x.com", "Jane Doe"),
        ("Doe, Jane", "jane@x.com", "Jane Doe"),
        ("jane@x.com", "jane@x.com", None),
        ("bob@y.com", "jane@x.com", None),
        ("jane", "jane@x.com", None),
        ("Support", "help@x.com", None),
        ("12345", "jane@x.com", None),
        ("", "jane@x.com", None),
        (None, "jane@x.com", None),
        ("Zoë Müller", "zoe@x.de", "Zoë Müller"),
    ],
)
def test_real_names(display: str | None, address: str, name: str | None) -> None:
    assert real_name(display, address) == name


@pytest.mark.parametrize(
    ("address", "name"),
    [
        ("jane.doe@x.com", "Jane Doe"),
        ("jane_doe+crm@x.com", "Jane Doe"),
        ("j.doe2@x.com", "J Doe"),
        ("12345@x.com", None),
    ],
)
def test_derived_names(address: str, name: str | None) -> None:
    assert derived_name(address) == name


def test_company_names_from_domains() -> None:
    assert company_name("mail.globex.co.uk") == "Globex"
    assert company_name("initech-labs.com") == "Initech Labs"
    assert company_name("HubSpot.com".lower()) == "Hubspot"
