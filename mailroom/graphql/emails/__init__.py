"""The API's emails: types, queries and mutations."""
