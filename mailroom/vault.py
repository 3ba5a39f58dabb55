"""Secrets at rest: mailbox credentials (and, later, OAuth tokens) encrypted with Fernet
(AES-128-CBC with HMAC-SHA256) under the key in `MAILROOM_SECRET_KEY`.

Without a key there is no vault: storing a credential then fails with a clear error instead of
writing it in plain text.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from mailroom.errors import SettingsError

KEY_HELP = (
    "MAILROOM_SECRET_KEY must hold 32 random bytes in URL-safe base64 (Fernet's format); "
    "make one with `mailroom secret-key`"
)


class Vault:
    def __init__(self, key: str | None) -> None:
        if not key:
            raise SettingsError(f"no secret key: {KEY_HELP}")
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as error:
            raise SettingsError(f"invalid secret key: {KEY_HELP}") from error

    def seal(self, secret: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(secret).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            value: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as error:
            raise SettingsError(
                "a stored credential cannot be decrypted: MAILROOM_SECRET_KEY is not the key it "
                "was stored with"
            ) from error
        return value


def new_key() -> str:
    return Fernet.generate_key().decode()
