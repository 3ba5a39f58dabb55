"""The resolver: which participants become people and companies, and the links between them.

rules          the workspace's record creation rules (mode, members, blocklist)
records        people and companies from a batch of new messages
interactions   each member's interactions with each contact, from messages and meetings
figures        connections and first/last figures, kept from the interactions
strength       how interactions weigh and fade, and the levels of connection strength
history        interactions made again from what is stored (a rebuild)
merge          uniting two people
"""

from mailroom.resolver.records import Resolution, Sighting, resolve
from mailroom.resolver.rules import Rule, WorkspaceRules

__all__ = ["Resolution", "Rule", "Sighting", "WorkspaceRules", "resolve"]
