"""The resolver: which participants become people and companies, and the links between them.

rules          the workspace's record creation rules (mode, members, blocklist)
records        people and companies from a batch of new messages
interactions   interactions and first/last figures
merge          uniting two people
"""

from mailroom.resolver.interactions import interactions_for
from mailroom.resolver.records import Resolution, Sighting, resolve
from mailroom.resolver.rules import Rule, WorkspaceRules

__all__ = ["Resolution", "Rule", "Sighting", "WorkspaceRules", "interactions_for", "resolve"]
