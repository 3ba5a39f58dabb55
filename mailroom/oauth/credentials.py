"""An OAuth mailbox's tokens as `Mailbox.credentials` keeps them: sealed by the vault, never in
clear, never in a log line (the dataclass does not show them in its repr)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from mailroom.errors import AuthError
from mailroom.models import Mailbox
from mailroom.vault import Vault

# Google's access tokens last an hour; a token missing its lifetime is taken for a short one.
DEFAULT_LIFETIME = 3600


@dataclass(frozen=True, slots=True)
class Credentials:
    refresh_token: str = field(repr=False)
    access_token: str = field(repr=False)
    expires_at: float  # seconds since the epoch
    scope: str

    @classmethod
    def from_token(cls, token: dict[str, Any], refresh_token: str) -> Credentials:
        """From a token endpoint's answer; `refresh_token` is the one to keep (the answer's
        own when it has one)."""
        return cls(
            refresh_token=str(token.get("refresh_token") or refresh_token),
            access_token=str(token["access_token"]),
            expires_at=_expires_at(token),
            scope=str(token.get("scope") or ""),
        )

    def renewed(self, token: dict[str, Any]) -> Credentials:
        """After a refresh: the new access token, and the new refresh token if one came (the
        provider rotated it), else the one held."""
        return replace(
            self,
            refresh_token=str(token.get("refresh_token") or self.refresh_token),
            access_token=str(token["access_token"]),
            expires_at=_expires_at(token),
            scope=str(token.get("scope") or self.scope),
        )

    def fresh_for(self, seconds: float) -> bool:
        return self.expires_at - seconds > time.time()

    def sealed(self, vault: Vault) -> str:
        return vault.seal(
            {
                "refresh_token": self.refresh_token,
                "access_token": self.access_token,
                "expires_at": self.expires_at,
                "scope": self.scope,
            }
        )

    @classmethod
    def opened(cls, vault: Vault, mailbox: Mailbox) -> Credentials:
        if not mailbox.credentials:
            raise AuthError(
                f"{mailbox.address} has no stored tokens; connect it again",
                mailbox=mailbox.address,
            )
        value = vault.open(mailbox.credentials)
        return cls(
            refresh_token=str(value["refresh_token"]),
            access_token=str(value["access_token"]),
            expires_at=float(value["expires_at"]),
            scope=str(value.get("scope", "")),
        )


def _expires_at(token: dict[str, Any]) -> float:
    if token.get("expires_at") is not None:
        return float(token["expires_at"])
    lifetime = token.get("expires_in")
    return time.time() + float(lifetime if lifetime is not None else DEFAULT_LIFETIME)
