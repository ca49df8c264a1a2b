"""The portal says what the API says: a blocked prompt and a spent hard budget refuse
with the same message, in English and Chinese, spending nothing; the generate page
names the group whose budget a job counts against."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from accounts.quota import quota_status
from generations.models import Generation
from tests.portal_helpers import FLUX_DEV

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "This prompt was refused by this instance&#x27;s content policy"),
        ("zh-hans", "该提示词被本实例的内容策略拒绝"),
    ],
)
def test_a_blocked_prompt_is_refused_in_the_portal_in_both_languages(
    signed_in: Any, user: Any, enqueued: list, language: str, text: str
) -> None:
    call_command("policy", "block", "gore")
    response = signed_in.post(
        reverse("generate"),
        {"model": FLUX_DEV, "prompt": "\uff27ore at dawn", "n": 1},
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.status_code == 400
    assert text in response.content.decode()
    assert not Generation.objects.exists()
    assert quota_status(user=user, model=FLUX_DEV).reserved == 0


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "spending budget of the group designers is used up"),
        ("zh-hans", "用户组 designers 本月的支出预算已用完"),
    ],
)
def test_a_spent_hard_budget_is_refused_in_the_portal_and_named_on_the_page(
    signed_in: Any, user: Any, enqueued: list, language: str, text: str
) -> None:
    user.groups.add(Group.objects.create(name="designers"))
    call_command("budget", "set", "--group", "designers", "--monthly", "0", "--hard")
    page = signed_in.get(reverse("generate"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert "designers" in page
    assert 'id="budget-group"' in page

    response = signed_in.post(
        reverse("generate"),
        {"model": FLUX_DEV, "prompt": "a kite", "n": 1},
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.status_code == 400
    assert text in response.content.decode()
    assert not Generation.objects.exists()
