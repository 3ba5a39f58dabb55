"""IMAP mailbox sync.

client     imapclient on a thread of its own per connection; errors translated once
guard      imaplib reading through a meter, connecting only to vetted addresses
meter      what one step of a session may cost a server: a deadline and a byte budget
uidsets    UID sets from the server, read as ranges and never expanded
errors     the sync error classes, by what to do about them
hosts      which hosts a workspace may connect to: every address vetted, every time
folders    which folders are synced, in which role
sync       one folder from its cursor: first sync, increments, deletions, UIDVALIDITY
poller     one supervised task per mailbox: states, backoff, IDLE, leases
accounts   a mailbox's connection settings, its sealed password, a login check
"""
