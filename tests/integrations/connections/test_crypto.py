"""Credentials are encrypted at rest, keys rotate, production refuses to run without keys."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection as db

from integrations.connections import crypto
from integrations.connections.models import Connection
from tests.factories import AccountFactory

SECRET = "xero-refresh-token-7f3a9c-never-in-plaintext"


def _raw(conn: Connection) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integrations_connection WHERE id = %s", [conn.pk])
        return str(cursor.fetchone()[0])


def _connection() -> Connection:
    return Connection.objects.create(
        account=AccountFactory.create(),
        provider="xero",
        external_id="tenant-1",
        display_name="Demo",
        credentials={"refresh_token": SECRET, "access_token": "at-123"},
    )


@pytest.mark.django_db
def test_credentials_are_stored_encrypted_and_read_back():
    conn = _connection()
    raw = _raw(conn)
    assert raw.startswith("enc:fernet:")
    assert SECRET not in raw
    assert Connection.objects.get(pk=conn.pk).credentials["refresh_token"] == SECRET


@pytest.mark.django_db
def test_serialisation_never_exposes_the_secret():
    from django.core import serializers

    conn = _connection()
    assert SECRET not in serializers.serialize("json", [conn])
    assert SECRET not in repr(conn)


@pytest.mark.django_db
def test_rotation_re_encrypts_with_the_newest_key(settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    conn = _connection()
    old_raw = _raw(conn)

    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    # Old values still decrypt while the old key is listed.
    assert Connection.objects.get(pk=conn.pk).credentials["refresh_token"] == SECRET

    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "re-encrypted 1 row(s)" in out.getvalue()
    assert _raw(conn) != old_raw
    assert not crypto.needs_rotation(_raw(conn))

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key retired
    assert Connection.objects.get(pk=conn.pk).credentials["refresh_token"] == SECRET
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "re-encrypted 0 row(s)" in out.getvalue()


@pytest.mark.django_db
def test_a_value_no_key_can_open_is_an_error(settings):
    conn = _connection()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.DecryptionError):
        Connection.objects.get(pk=conn.pk)


def test_production_without_keys_refuses(settings):
    settings.DEBUG = False
    settings.FIELD_ENCRYPTION_KEYS = []
    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt_str("x")


def test_development_without_keys_uses_a_key_derived_from_secret_key(settings):
    settings.DEBUG = True
    settings.FIELD_ENCRYPTION_KEYS = []
    value = crypto.encrypt_str("hello")
    assert crypto.decrypt_str(value) == "hello"


def test_a_malformed_key_is_reported(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="not a Fernet key"):
        crypto.encrypt_str("x")


def test_mask_shows_only_the_last_four():
    assert crypto.mask("abcdefghijkl") == "••••ijkl"
    assert crypto.mask("short") == "••••"
    assert crypto.mask("") == ""
