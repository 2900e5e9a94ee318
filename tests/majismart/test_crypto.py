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


def test_rotate_encryption_reencrypts_every_schema_and_keeps_search_working(alpha, settings) -> None:  # type: ignore[no-untyped-def]
    from io import StringIO

    from django.core.management import call_command

    from clients.models import Category, Client
    from clients.selectors import client_search

    with tenant_context(alpha):
        client = Client.objects.create(account_number="ROT1", full_name="Rota", phone="+254711222333",
                                       national_id="12312312", category=Category.objects.get(code="domestic"))
    connection.set_schema_to_public()
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    out = StringIO()
    call_command("rotate_encryption", stdout=out)
    assert "Re-encrypted" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old keys are retired
    with tenant_context(alpha):
        fresh = Client.objects.get(pk=client.pk)
        assert (fresh.phone, fresh.national_id) == ("+254711222333", "12312312")
        assert list(client_search(query="0711 222 333")) == [fresh]
        assert User.objects.get(email="alice@alpha.test").email == "alice@alpha.test"


@pytest.mark.django_db
def test_the_data_migration_helpers_encrypt_in_batches_and_back_and_a_rerun_changes_nothing() -> None:
    from django.db import connection

    from majismart.crypto_migrations import decrypt_columns, encrypt_columns

    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE enc_probe (id serial PRIMARY KEY, a text NOT NULL, b text NOT NULL, "
                       "a_index text NOT NULL DEFAULT '')")
        cursor.executemany("INSERT INTO enc_probe (a, b) VALUES (%s, %s)",
                           [(f"name {i}", "" if i % 3 else f"phone {i}") for i in range(7)])
    with connection.schema_editor() as editor:
        changed = encrypt_columns(editor, "enc_probe", ["a", "b"], batch=2,
                                  extra=lambda plain: {"a_index": crypto.blind_index(plain["a"])})
        assert changed == 7
        assert encrypt_columns(editor, "enc_probe", ["a", "b"], batch=2) == 0  # already encrypted
    with connection.cursor() as cursor:
        cursor.execute("SELECT a, b, a_index FROM enc_probe ORDER BY id")
        rows = cursor.fetchall()
    assert all(a.startswith("enc1:") and crypto.decrypt(a) == f"name {i}" for i, (a, _, _) in enumerate(rows))
    assert [b == "" for _, b, _ in rows] == [bool(i % 3) for i in range(7)]  # empty stays empty
    assert [idx for _, _, idx in rows] == [crypto.blind_index(f"name {i}") for i in range(7)]
    with connection.schema_editor() as editor:
        assert decrypt_columns(editor, "enc_probe", ["a", "b"], batch=3) == 7
    with connection.cursor() as cursor:
        cursor.execute("SELECT a, b FROM enc_probe ORDER BY id")
        assert cursor.fetchall() == [(f"name {i}", "" if i % 3 else f"phone {i}") for i in range(7)]
