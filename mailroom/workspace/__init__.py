"""The workspace's rules, one place for each, used alike by the command line and the API: both
call these and neither decides anything of its own. Expected refusals are the errors of
`mailroom.errors` (NotFoundError, ForbiddenError, InvalidInputError, ConflictError); Tortoise's
are translated here, once (`store`).

Module      What it holds                                        Public names
----------  ---------------------------------------------------  ----------------------------------
actors      who asks: a member, or the operator at the command   Actor, OPERATOR
            line; admins change settings, a mailbox's owner
            and admins manage it
workspaces  creating, listing and removing them; their name,     create_workspace, get_workspace,
            plan, record creation mode and sender policy         workspaces, workspace_size,
                                                                 WorkspaceSize, remove_workspace,
                                                                 update_workspace,
                                                                 set_record_creation_mode,
                                                                 set_sender_policy,
                                                                 workspace_address
members     adding and removing members (admins; no two share    add_member, remove_member,
            an address); finding them; their personal            RemovedMember, get_member,
            forwarding addresses                                 members_of, member_by_id,
                                                                 workspace_member,
                                                                 forwarding_address
tokens      API tokens, kept as their hash: made, listed and     issue_token, IssuedToken,
            revoked by admins (a member may revoke their own)    create_token, tokens_of,
                                                                 find_token, token_by_id,
                                                                 revoke_token,
                                                                 hash_token, token_holder
blocklist   addresses and domains that make no records, and      add_blocklist_entry, blocklist_of,
            the forms an entry may be written in                 find_blocklist_entry,
                                                                 remove_blocklist_entry
plans       connected mailboxes per member, by plan              MAILBOXES_PER_MEMBER,
                                                                 check_room_for_mailbox
mailboxes   finding a mailbox by address or id; what `mailbox     SYNCED_PROVIDERS, find_mailbox,
            status` shows; removing one (its owner or an         mailbox_at, mailbox_by_id,
            admin); a member's import mailbox (made by           mailboxes_of, stored_messages,
            `sources.mailboxes`, named here for the callers)     sent_messages, mailbox_statuses,
                                                                 remove_mailbox, import_mailbox
connecting  connecting and reconnecting an IMAP mailbox: plan,   add_imap_mailbox,
            connection and login checks                          reconnect_imap_mailbox
caldav      the same for a CalDAV account's calendars             add_caldav_mailbox,
                                                                 reconnect_caldav_mailbox
consent     connecting and reconnecting an account by consent    ConsentLink, start_connection,
            (OAuth: Google): the consent URL, then the           start_reconnection,
            callback's checks (plan, who holds the account,      finish_connection
            the same account on reconnect)
syncing     one pass or a reconciliation of a connected mailbox  Synced, sync_mailbox,
            on request, whatever its provider                    reconcile_mailbox
sharing     a mailbox's default sharing; sharing a thread        set_mailbox_sharing, share_thread,
                                                                 unshare_thread
contacts    the records that are contacts: all but the team's    contact_people, contact_companies,
            own                                                  is_team_address, is_contact_person,
                                                                 is_contact_company, team_people
records     people and companies made and changed by hand        PersonChange, create_person,
                                                                 update_person, merge_people,
                                                                 create_company, update_company
visibility  who sees how much of an email: the one policy        Viewer, Access, Level, access
threads     a thread as a viewer may see it                      ThreadView, thread_views

`store` (rows by id, scoped to the asking workspace; unique-index refusals as conflicts) is the
modules' own helper.

Imports go one way: the command line and the API import this package; it imports `sources` (an
IMAP login check, the mailboxes push sources fill), `oauth`, `intake`, `resolver`, `parsing` and
`models`, never upward.
"""

from __future__ import annotations

from mailroom.sources.mailboxes import import_mailbox
from mailroom.workspace.actors import OPERATOR, Actor
from mailroom.workspace.blocklist import (
    add_blocklist_entry,
    blocklist_of,
    find_blocklist_entry,
    remove_blocklist_entry,
)
from mailroom.workspace.caldav import add_caldav_mailbox, reconnect_caldav_mailbox
from mailroom.workspace.connecting import add_imap_mailbox, reconnect_imap_mailbox
from mailroom.workspace.consent import (
    ConsentLink,
    finish_connection,
    start_connection,
    start_reconnection,
)
from mailroom.workspace.contacts import (
    contact_companies,
    contact_people,
    is_contact_company,
    is_contact_person,
    is_team_address,
    team_people,
)
from mailroom.workspace.mailboxes import (
    SYNCED_PROVIDERS,
    find_mailbox,
    mailbox_at,
    mailbox_by_id,
    mailbox_statuses,
    mailboxes_of,
    remove_mailbox,
    sent_messages,
    stored_messages,
)
from mailroom.workspace.members import (
    RemovedMember,
    add_member,
    forwarding_address,
    get_member,
    member_by_id,
    members_of,
    remove_member,
    workspace_member,
)
from mailroom.workspace.plans import MAILBOXES_PER_MEMBER, check_room_for_mailbox
from mailroom.workspace.records import (
    PersonChange,
    create_company,
    create_person,
    merge_people,
    update_company,
    update_person,
)
from mailroom.workspace.sharing import set_mailbox_sharing, share_thread, unshare_thread
from mailroom.workspace.syncing import Synced, reconcile_mailbox, sync_mailbox, syncable
from mailroom.workspace.threads import ThreadView, thread_views
from mailroom.workspace.tokens import (
    IssuedToken,
    create_token,
    find_token,
    hash_token,
    issue_token,
    revoke_token,
    token_by_id,
    token_holder,
    tokens_of,
)
from mailroom.workspace.visibility import Access, Level, Viewer, access
from mailroom.workspace.workspaces import (
    WorkspaceSize,
    create_workspace,
    get_workspace,
    remove_workspace,
    set_record_creation_mode,
    set_sender_policy,
    update_workspace,
    workspace_address,
    workspace_size,
    workspaces,
)

__all__ = [
    "Synced",
    "reconcile_mailbox",
    "sync_mailbox",
    "syncable",
    "MAILBOXES_PER_MEMBER",
    "OPERATOR",
    "SYNCED_PROVIDERS",
    "Access",
    "Actor",
    "ConsentLink",
    "IssuedToken",
    "Level",
    "PersonChange",
    "RemovedMember",
    "ThreadView",
    "Viewer",
    "WorkspaceSize",
    "access",
    "add_blocklist_entry",
    "add_caldav_mailbox",
    "add_imap_mailbox",
    "add_member",
    "blocklist_of",
    "check_room_for_mailbox",
    "contact_companies",
    "contact_people",
    "is_contact_company",
    "is_contact_person",
    "create_company",
    "create_person",
    "create_token",
    "create_workspace",
    "find_blocklist_entry",
    "find_mailbox",
    "find_token",
    "finish_connection",
    "forwarding_address",
    "get_member",
    "get_workspace",
    "hash_token",
    "import_mailbox",
    "is_team_address",
    "team_people",
    "issue_token",
    "mailbox_at",
    "mailbox_by_id",
    "mailbox_statuses",
    "mailboxes_of",
    "member_by_id",
    "members_of",
    "merge_people",
    "reconnect_caldav_mailbox",
    "reconnect_imap_mailbox",
    "remove_blocklist_entry",
    "remove_mailbox",
    "remove_member",
    "remove_workspace",
    "revoke_token",
    "sent_messages",
    "set_mailbox_sharing",
    "set_record_creation_mode",
    "set_sender_policy",
    "share_thread",
    "start_connection",
    "start_reconnection",
    "stored_messages",
    "thread_views",
    "token_by_id",
    "token_holder",
    "tokens_of",
    "unshare_thread",
    "update_company",
    "update_person",
    "update_workspace",
    "workspace_address",
    "workspace_member",
    "workspace_size",
    "workspaces",
]
