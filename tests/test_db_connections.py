"""A worker waiting on an upstream holds no database connection."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction

from accounts.models import User
from common.db import release_connection


@pytest.mark.django_db(transaction=True)
def test_it_gives_the_connection_back_before_a_wait(user: Any) -> None:
    User.objects.count()
    assert connection.connection is not None
    release_connection()
    assert connection.connection is None
    assert User.objects.filter(pk=user.pk).exists()  # the next query takes one again


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_connection_inside_a_transaction(user: Any) -> None:
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(first_name="Al")
        release_connection()
        assert connection.connection is not None
    assert User.objects.get(pk=user.pk).first_name == "Al"
