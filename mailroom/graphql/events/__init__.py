"""Meetings: the events query and an event by id."""
