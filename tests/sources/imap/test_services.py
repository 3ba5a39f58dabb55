"""The IMAP test servers work: Dovecot takes logins over plain IMAP and TLS, holds real mail
put in by APPEND or straight into the Maildir, and behaves as the sync code expects (IDLE,
CONDSTORE/QRESYNC, UIDVALIDITY); the fault proxy breaks connections when told to."""

from __future__ import annotations

import imaplib
import itertools
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from imapclient.imapclient import ARCHIVE, DRAFTS, JUNK, SENT, TRASH

from tests.conftest import CORPORA
from tests.helpers import later, message
from tests.sources.imap.mailboxes import (
    append_messages,
    connect,
    create_folder,
    delete_messages,
    deliver_maildir,
    recreate_folder,
)
from tests.sources.imap.proxy import FaultProxy
from tests.sources.imap.services import DovecotServer, ImapUser, mail_owner

NewUser = Callable[[], ImapUser]
NewProxy = Callable[[int], FaultProxy]
# What imapclient raises when the connection breaks under it: imaplib's abort on EOF, the
# socket's own error on a reset.
BROKEN = (imaplib.IMAP4.abort, OSError)
LARGE_MESSAGE = CORPORA / "flanker" / "torture.eml"
# Dovecot adds it for the first session to see a message, EXAMINE or not.
RECENT = b"\\Recent"


def corpus_messages() -> list[bytes]:
    """Real messages, malformed ones included, that come back from Dovecot as they went in:
    it refuses an empty message, and serves each NUL byte as 0x80 (IMAP literals may not carry
    NUL), so the few with NULs are left out too."""
    paths = [
        *CORPORA.glob("flanker/**/*.eml"),
        *CORPORA.glob("flanker/dkim/email.*"),
        *CORPORA.glob("mime4j/*.msg"),
        *CORPORA.glob("spamscope/mail_*"),
    ]
    messages = [path.read_bytes() for path in sorted(paths)]
    return [data for data in messages if b"\0" not in data and 0 < len(data) < 256 * 1024]


def same_text(served: bytes, original: bytes) -> bool:
    # Dovecot stores what APPEND sent and serves it with CRLF line ends.
    return served.replace(b"\r\n", b"\n") == original.replace(b"\r\n", b"\n")


def open_client(port: int, user: ImapUser) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port, ssl=False, timeout=10)
    client.login(user.name, user.password)
    return client


def idle_until(client: IMAPClient, wanted: Callable[[list[tuple]], bool]) -> list[tuple]:
    """The untagged responses the idling client got until `wanted` holds for them."""
    responses: list[tuple] = []
    deadline = time.monotonic() + 10
    while not wanted(responses):
        if time.monotonic() > deadline:
            raise TimeoutError(f"IDLE brought only {responses}")
        responses += client.idle_check(timeout=1)
    return responses


def test_login_over_plain_imap_and_tls(dovecot: DovecotServer, imap_user: NewUser) -> None:
    user = imap_user()
    with connect(user.port, user.name, user.password) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    with IMAPClient(
        "127.0.0.1", user.imaps_port, ssl=True, ssl_context=dovecot.ssl_context(), timeout=10
    ) as client:
        client.login(user.name, user.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    # The certificate is the test CA's: a client trusting only the system's CAs refuses it.
    # (Not through IMAPClient, which leaves its socket open when the handshake fails.)
    with socket.create_connection(("127.0.0.1", user.imaps_port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")
    with pytest.raises(LoginError), connect(user.port, user.name, "wrong password"):
        pass


def test_users_added_while_running_log_in_at_once(dovecot: DovecotServer) -> None:
    name, password = f"late-{secrets.token_hex(4)}", "secret"
    with pytest.raises(LoginError), connect(dovecot.port, name, password):
        pass
    maildir = dovecot.add_user(name, password)

    with connect(dovecot.port, name, password) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    assert maildir.stat().st_uid == mail_owner()[0]


def test_a_changed_password_refuses_the_old_one(dovecot: DovecotServer, imap_user: NewUser) -> None:
    user = imap_user()
    with connect(user.port, user.name, user.password) as client:
        client.noop()

    dovecot.set_password(user.name, "changed")

    with pytest.raises(LoginError), connect(user.port, user.name, user.password):
        pass
    with connect(user.port, user.name, "changed") as client:
        client.noop()


def test_capabilities_and_special_use_folders(imap_user: NewUser) -> None:
    user = imap_user()
    with connect(user.port, user.name, user.password) as client:
        capabilities = set(client.capabilities())
        special = {
            kind: client.find_special_folder(kind) for kind in (SENT, DRAFTS, TRASH, JUNK, ARCHIVE)
        }
        listed = {name: flags for flags, _, name in client.list_folders()}
        subscribed = {name for _, _, name in client.list_sub_folders()}

    wanted = {b"IDLE", b"CONDSTORE", b"QRESYNC", b"SPECIAL-USE", b"MULTIAPPEND", b"UIDPLUS"}
    assert wanted <= capabilities
    assert special == {
        SENT: "Sent",
        DRAFTS: "Drafts",
        TRASH: "Trash",
        JUNK: "Junk",
        ARCHIVE: "Archive",
    }
    assert b"\\Sent" in listed["Sent"] and "INBOX" in listed
    assert {"Sent", "Drafts", "Trash", "Junk", "Archive"} <= subscribed


def test_append_1000_real_messages(imap_user: NewUser) -> None:
    user = imap_user()
    originals = list(itertools.islice(itertools.cycle(corpus_messages()), 1000))
    dates = [later(0) + timedelta(minutes=n) for n in range(1000)]

    uids = append_messages(
        user.port, user.name, user.password, "INBOX", originals, [b"\\Seen"], dates
    )

    assert uids == list(range(1, 1001))
    with connect(user.port, user.name, user.password) as client:
        status = client.folder_status("INBOX", [b"MESSAGES", b"UIDNEXT", b"UNSEEN"])
        assert status == {b"MESSAGES": 1000, b"UIDNEXT": 1001, b"UNSEEN": 0}
        client.select_folder("INBOX", readonly=True)
        assert client.search("ALL") == uids
        client.normalise_times = False
        sample = [1, 2, 3, 500, 1000]
        fetched = client.fetch(sample, [b"BODY.PEEK[]", b"FLAGS", b"INTERNALDATE"])
    for uid in sample:
        assert same_text(fetched[uid][b"BODY[]"], originals[uid - 1]), uid
        assert set(fetched[uid][b"FLAGS"]) - {RECENT} == {b"\\Seen"}
        assert fetched[uid][b"INTERNALDATE"] == dates[uid - 1]


def test_maildir_delivery_is_indexed_in_order(imap_user: NewUser) -> None:
    user = imap_user()
    messages = [message(message_id=f"<maildir-{n}@client.example>") for n in range(50)]
    dates = [later(n) for n in range(50)]

    paths = deliver_maildir(user.maildir, "Archive", messages, ["\\Seen"], dates)
    deliver_maildir(user.maildir, "Imported", messages[:3])

    assert {path.stat().st_uid for path in paths} == {mail_owner()[0]}
    with connect(user.port, user.name, user.password) as client:
        assert client.folder_status("Imported", [b"MESSAGES"])[b"MESSAGES"] == 3
        client.select_folder("Archive", readonly=True)
        client.normalise_times = False
        uids = client.search("ALL")
        fetched = client.fetch(uids, [b"BODY.PEEK[]", b"FLAGS", b"INTERNALDATE"])
    assert uids == list(range(1, 51))
    assert [fetched[uid][b"BODY[]"] for uid in uids] == [
        m.replace(b"\n", b"\r\n") for m in messages
    ]
    assert {frozenset(fetched[uid][b"FLAGS"]) - {RECENT} for uid in uids} == {
        frozenset({b"\\Seen"})
    }
    assert [fetched[uid][b"INTERNALDATE"] for uid in uids] == dates


def test_idle_hears_of_mail_appended_by_another_connection(imap_user: NewUser) -> None:
    user = imap_user()
    append_messages(user.port, user.name, user.password, "INBOX", [message()])
    with connect(user.port, user.name, user.password) as idler:
        idler.select_folder("INBOX")
        idler.idle()
        try:
            append_messages(user.port, user.name, user.password, "INBOX", [message()])
            responses = idle_until(idler, lambda got: (2, b"EXISTS") in got)
        finally:
            idler.idle_done()
    assert (2, b"EXISTS") in responses


def test_expunge_raises_highestmodseq_and_is_reported_vanished(imap_user: NewUser) -> None:
    user = imap_user()
    uids = append_messages(user.port, user.name, user.password, "INBOX", [message()] * 5)
    with connect(user.port, user.name, user.password) as client:
        before = client.folder_status("INBOX", [b"HIGHESTMODSEQ"])[b"HIGHESTMODSEQ"]

    delete_messages(user.port, user.name, user.password, "INBOX", [uids[1], uids[3]])

    with connect(user.port, user.name, user.password) as client:
        assert client.enable("QRESYNC") == [b"QRESYNC"]
        after = client.select_folder("INBOX")[b"HIGHESTMODSEQ"]
        remaining = client.search("ALL")
        # VANISHED (EARLIER) names only expunged UIDs inside the UID set asked for.
        changed = client.fetch(uids, [b"FLAGS"], modifiers=[f"CHANGEDSINCE {before}", "VANISHED"])
        # imapclient does not parse VANISHED; imaplib keeps it among the untagged responses.
        vanished = client._imap.untagged_responses.pop("VANISHED", None)
    assert remaining == [uids[0], uids[2], uids[4]]
    assert after > before
    assert changed == {}
    assert vanished == [f"(EARLIER) {uids[1]},{uids[3]}".encode()]


def test_recreated_folder_gets_a_new_uidvalidity(imap_user: NewUser) -> None:
    user = imap_user()
    login = (user.port, user.name, user.password)
    create_folder(*login, "Projects")
    append_messages(*login, "Projects", [message()] * 3)
    with connect(*login) as client:
        old = client.folder_status("Projects", [b"UIDVALIDITY"])[b"UIDVALIDITY"]

    new = recreate_folder(*login, "Projects")

    assert new != old
    with connect(*login) as client:
        status = client.folder_status("Projects", [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY"])
    assert status == {b"MESSAGES": 0, b"UIDNEXT": 1, b"UIDVALIDITY": new}
    assert append_messages(*login, "Projects", [message()]) == [1]


def test_proxy_forwards_and_counts(imap_user: NewUser, fault_proxy: NewProxy) -> None:
    user = imap_user()
    proxy = fault_proxy(user.port)
    with connect(proxy.port, user.name, user.password) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        during = proxy.stats()

    assert (during.connections, during.active, during.cuts) == (1, 1, 0)
    assert during.to_client > 0 and during.to_server > 0


def test_proxy_cuts_a_fetch_mid_stream_then_heals(
    imap_user: NewUser, fault_proxy: NewProxy
) -> None:
    user = imap_user()
    original = LARGE_MESSAGE.read_bytes()
    [uid] = append_messages(user.port, user.name, user.password, "INBOX", [original])
    proxy = fault_proxy(user.port)
    client = open_client(proxy.port, user)
    client.select_folder("INBOX", readonly=True)
    sent = proxy.stats().to_client

    proxy.cut_after_bytes(64 * 1024)
    with pytest.raises(BROKEN):
        client.fetch([uid], [b"BODY.PEEK[]"])
    client.shutdown()

    stats = proxy.stats()
    assert (stats.cuts, stats.active) == (1, 0)
    assert stats.to_client - sent == 64 * 1024 < len(original)
    proxy.accept()
    with connect(proxy.port, user.name, user.password) as client:
        client.select_folder("INBOX", readonly=True)
        served = client.fetch([uid], [b"BODY.PEEK[]"])[uid][b"BODY[]"]
    assert same_text(served, original)


def test_proxy_cuts_all_open_connections(imap_user: NewUser, fault_proxy: NewProxy) -> None:
    user = imap_user()
    proxy = fault_proxy(user.port)
    clients = [open_client(proxy.port, user) for _ in range(2)]

    assert proxy.cut_all_now() == 2

    for client in clients:
        with pytest.raises(BROKEN):
            client.noop()
        client.shutdown()
    with connect(proxy.port, user.name, user.password) as client:
        client.noop()
    assert proxy.stats().connections == 3


def test_a_cut_during_idle_shows_only_when_idle_ends(
    imap_user: NewUser, fault_proxy: NewProxy
) -> None:
    user = imap_user()
    proxy = fault_proxy(user.port)
    client = open_client(proxy.port, user)
    client.select_folder("INBOX")
    client.idle()

    proxy.cut_all_now()

    # imapclient's idle_check swallows the reset and the EOF: it returns no responses, at once
    # and every time; only idle_done(), or any later command, raises.
    started = time.monotonic()
    assert client.idle_check(timeout=5) == [] == client.idle_check(timeout=5)
    assert time.monotonic() - started < 1
    with pytest.raises(BROKEN):
        client.idle_done()
    client.shutdown()


def test_proxy_refuses_then_accepts_again(imap_user: NewUser, fault_proxy: NewProxy) -> None:
    user = imap_user()
    proxy = fault_proxy(user.port)

    proxy.refuse()
    with pytest.raises(ConnectionRefusedError):
        IMAPClient("127.0.0.1", proxy.port, ssl=False, timeout=5)
    proxy.refuse(reset=True)
    with pytest.raises(BROKEN):
        IMAPClient("127.0.0.1", proxy.port, ssl=False, timeout=5)
    proxy.accept()

    with connect(proxy.port, user.name, user.password) as client:
        client.noop()
    stats = proxy.stats()
    assert (stats.connections, stats.cuts) == (2, 1)


def test_private_dovecot_restarts_with_its_mail_and_leaves_no_process(
    dovecot_factory: Callable[..., DovecotServer],
) -> None:
    server = dovecot_factory()
    server.add_user("restarted", "secret")
    login = (server.port, "restarted", "secret")
    append_messages(*login, "INBOX", [message()])
    with connect(*login) as client:
        before = client.folder_status("INBOX", [b"MESSAGES", b"UIDVALIDITY"])
    idler = IMAPClient("127.0.0.1", server.port, ssl=False, timeout=10)
    idler.login("restarted", "secret")
    assert server.processes()

    server.stop()

    assert server.processes() == []
    with pytest.raises(BROKEN):
        idler.noop()
    idler.shutdown()
    server.start()
    with connect(*login) as client:
        assert client.folder_status("INBOX", [b"MESSAGES", b"UIDVALIDITY"]) == before
