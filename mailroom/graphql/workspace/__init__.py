"""The API's workspace: types, queries and mutations."""
