"""The API's people: types, queries and mutations."""
