"""The API's workspace: types, queries, settings mutations, and its members and their tokens
(`members`)."""
