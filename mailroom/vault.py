"""Secrets at rest: mailbox passwords and OAuth tokens encrypted with Fernet (AES-128-CBC with
HMAC-SHA256) under the keys in `MAILROOM_SECRET_KEY`.

The setting may hold several keys, comma-separated, so that a key can be replaced without
losing what it sealed: the first key seals everything written from then on, and every key
opens. Rotating is: put a new key first, keep the old one after it until every credential has
been written again (each refresh and reconnect does so), then drop it.

Without a key there is no vault: storing a credential then fails with a clear error instead of
writing it in plain text.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mailroom.errors import SettingsError

KEY_HELP = (
    "MAILROOM_SECRET_KEY must hold 32 random bytes in URL-safe base64 (Fernet's format), or "
    "several such keys separated by commas, the newest first; make one with "
    "`mailroom secret-key`"
)


class Vault:
    def __init__(self, key: str | None) -> None:
        keys = [part.strip() for part in (key or "").split(",") if part.strip()]
        if not keys:
            raise SettingsError(f"no secret key: {KEY_HELP}")
        fernets = []
        for number, text in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(text.encode()))
            except (ValueError, TypeError) as error:
                # Which key, never the key itself: the message goes to logs and terminals.
                which = f"key {number} of {len(keys)}" if len(keys) > 1 else "key"
                raise SettingsError(f"invalid secret {which}: {KEY_HELP}") from error
        self._fernet = MultiFernet(fernets)

    def seal(self, secret: dict[str, Any]) -> str:
        """Encrypted with the first key."""
        return self._fernet.encrypt(json.dumps(secret).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        """Decrypted with whichever key sealed it."""
        try:
            value: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as error:
            raise SettingsError(
                "a stored credential cannot be decrypted: none of the keys in "
                "MAILROOM_SECRET_KEY is the key it was stored with"
            ) from error
        return value

    def reseal(self, sealed: str) -> str:
        """The same secret, sealed with the first key (whichever key sealed it before)."""
        return self.seal(self.open(sealed))


def new_key() -> str:
    return Fernet.generate_key().decode()
