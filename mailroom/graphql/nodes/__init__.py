"""The API's object types that refer to one another, shared by the domains' queries and
mutations (which import them; these import no domain):

types      Email, Thread, Participant, Person, Company, Event, Attendee; `seen`, the one way
           to an email; `with_addresses`, a page of people's addresses
parts      the values they hold: EmailAccess, Attachment, Provenance, the events' enums
timeline   pages of the emails of some participants (a person's, a company's), newest first
"""

from mailroom.graphql.nodes.timeline import (
    Page,
    company_participants,
    company_reach,
    person_participants,
    timeline,
)
from mailroom.graphql.nodes.types import (
    CompanyType,
    EmailType,
    ParticipantType,
    PersonType,
    ThreadType,
    emails_of,
    seen,
    with_addresses,
)

__all__ = [
    "CompanyType",
    "EmailType",
    "Page",
    "ParticipantType",
    "PersonType",
    "ThreadType",
    "company_participants",
    "company_reach",
    "emails_of",
    "person_participants",
    "seen",
    "timeline",
    "with_addresses",
]
