"""IMAP mailbox sync.

client     imapclient on a thread of its own per connection; errors translated once
errors     the sync error classes, by what to do about them
hosts      which hosts a workspace may connect to
folders    which folders are synced, in which role
sync       one folder from its cursor: first sync, increments, deletions, UIDVALIDITY
poller     one supervised task per mailbox: states, backoff, IDLE, leases
accounts   connecting and reconnecting a mailbox
"""
