"""Mailroom: email and calendar ingestion for CRM workspaces."""
