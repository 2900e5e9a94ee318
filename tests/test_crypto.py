from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django_tenants.utils import tenant_context

from accounts.models import User
from majismart import crypto
from majismart.phones import MSG_PHONE_INVALID, normalize_phone


def test_personal_fields_are_not_stored_in_clear(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        user = User.objects.create_user("phone@alpha.test", "x-long-password", phone="+254712000999")
        with connection.cursor() as cursor:
            cursor.execute("SELECT phone, phone_index FROM accounts_user WHERE id = %s", [user.pk])
            stored, index = cursor.fetchone()
        assert stored.startswith("enc1:") and "712000999" not in stored
        assert User.objects.get(pk=user.pk).phone == "+254712000999"
        # Staff find a person by phone through the keyed blind index.
        assert User.objects.get(phone_index=crypto.blind_index("+254712000999")) == user
        assert index == crypto.blind_index("+254 712 000 999")


def test_keys_rotate_without_losing_old_data(settings) -> None:  # type: ignore[no-untyped-def]
    old_token = crypto.encrypt("national-id-12345678")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.FIELD_ENCRYPTION_KEYS]
    assert crypto.decrypt(old_token) == "national-id-12345678"
    rotated = crypto.rotate(old_token)
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]
    assert crypto.decrypt(rotated) == "national-id-12345678"
    with pytest.raises(ValueError, match="no configured key"):
        crypto.decrypt(old_token)


@pytest.mark.parametrize("raw", ["0712345678", "0712 345 678", "254712345678", "+254712345678", "+254 712 345 678"])
def test_kenyan_phone_forms_normalise_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+254712345678"


def test_01_numbers_and_bad_numbers() -> None:
    assert normalize_phone("0110 123456") == "+254110123456"
    from django.core.exceptions import ValidationError

    for bad in ("12345", "07123", "hello", "+1 202 555 0100x"):
        with pytest.raises(ValidationError) as err:
            normalize_phone(bad)
        assert err.value.messages == [MSG_PHONE_INVALID]
