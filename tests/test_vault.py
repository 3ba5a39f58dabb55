"""The vault: credentials sealed under the first of the keys, opened by any of them."""

from __future__ import annotations

import pytest

from mailroom.errors import SettingsError
from mailroom.vault import Vault, new_key


def test_keys_rotate_without_losing_what_the_old_key_sealed() -> None:
    old, new = new_key(), new_key()
    sealed = Vault(old).seal({"password": "hunter2"})
    rotated = Vault(f"{new},{old}")
    assert rotated.open(sealed) == {"password": "hunter2"}
    resealed = rotated.reseal(sealed)
    assert Vault(new).open(resealed) == {"password": "hunter2"}  # the new key alone opens it
    with pytest.raises(SettingsError, match="none of the keys"):
        Vault(old).open(resealed)
    # Written from now on with the first key.
    assert Vault(new).open(rotated.seal({"a": 1})) == {"a": 1}


@pytest.mark.parametrize("key", [None, "", " , "])
def test_no_key_is_no_vault(key: str | None) -> None:
    with pytest.raises(SettingsError, match="no secret key: MAILROOM_SECRET_KEY"):
        Vault(key)


def test_a_bad_key_is_named_by_its_place_never_shown() -> None:
    with pytest.raises(SettingsError) as refused:
        Vault(f"{new_key()},not-a-key")
    assert "invalid secret key 2 of 2" in str(refused.value)
    assert "not-a-key" not in str(refused.value)
