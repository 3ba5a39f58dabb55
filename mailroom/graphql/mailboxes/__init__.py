"""The API's mailboxes: types, queries and mutations."""
