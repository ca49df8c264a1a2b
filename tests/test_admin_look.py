"""The admin reads like Darkroom: its header and styles, short lists, a person form an
admin of this product needs, the near-limit quota filter, and Chinese without glued plurals."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts.models import Quota
from providers.models import Channel

pytestmark = pytest.mark.django_db

DEV = "black-forest-labs/flux.1-dev"  # free quota 10
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


def test_it_wears_the_portal_look_and_links_back(admin_client: Client) -> None:
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert '<div id="site-name"><a href="/admin/"><span class="brand-mark"' in html
    assert "Darkroom" in html
    assert "Django administration" not in html
    assert "/static/css/admin.css" in html
    assert f'href="{reverse("usage_report")}"' in html
    assert f'href="{reverse("generate")}"' in html


def test_the_channel_list_counts_served_models_with_a_link(admin_client: Client) -> None:
    channel = Channel.objects.get(name="modelverse")
    served = channel.routes.count()
    assert served > 3
    html = admin_client.get(reverse("admin:providers_channel_changelist")).content.decode()
    link = f"{reverse('admin:providers_channelmodel_changelist')}?channel__id__exact={channel.pk}"
    assert f'href="{link}"' in html
    assert f">{served} models</a>" in html
    assert f"{DEV} (" not in html  # no wall of "model (priority)" ids


def test_the_person_form_asks_what_this_product_needs(admin_client: Client) -> None:
    Group.objects.create(name="designers")
    add = admin_client.get(reverse("admin:accounts_user_add")).content.decode()
    for name in ("username", "first_name", "last_name", "email", "is_active", "is_staff"):
        assert f'name="{name}"' in add, name
    assert 'type="checkbox" name="groups"' in add
    assert 'name="user_permissions"' not in add
    assert 'name="is_superuser"' not in add
    designers = Group.objects.get(name="designers")
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "mei",
            "first_name": "Mei",
            "last_name": "Lin",
            "email": "mei@example.com",
            "usable_password": "true",
            "password1": "a-long-pass-4321",
            "password2": "a-long-pass-4321",
            "is_active": "on",
            "groups": [designers.pk],
        },
    )
    assert response.status_code == 302
    from accounts.models import User

    mei = User.objects.get(username="mei")
    assert (mei.email, mei.get_full_name(), list(mei.groups.all())) == (
        "mei@example.com",
        "Mei Lin",
        [designers],
    )
    change = admin_client.get(reverse("admin:accounts_user_change", args=[mei.pk])).content
    assert b"quota-table" in change
    assert b'name="user_permissions"' not in change


def test_it_finds_who_is_near_their_limit(admin_client: Client, django_user_model: Any) -> None:
    for name, used in (("empty", 10), ("near", 8), ("fine", 3)):
        person = django_user_model.objects.create_user(name)
        Quota.objects.create(user=person, model=DEV, used=used)
    url = reverse("admin:accounts_quota_changelist")
    none_left = admin_client.get(url, {"left": "none"}).context["cl"].result_list
    near = admin_client.get(url, {"left": "low"}).context["cl"].result_list
    assert [q.user.username for q in none_left] == ["empty"]
    assert sorted(q.user.username for q in near) == ["empty", "near"]


def test_the_chinese_admin_has_no_glued_english_plurals(admin_client: Client) -> None:
    html = admin_client.get(reverse("admin:index"), **ZH).content.decode()
    assert 'lang="zh-hans"' in html
    assert "配额" in html
    assert "通道" in html
    assert "所服务的模型" in html
    assert re.findall(r"[\u4e00-\u9fff]s\b", html) == []


def test_staff_reach_the_report_and_the_admin_from_the_portal(
    client: Client, admin_user: Any, user: Any
) -> None:
    links = (f'href="{reverse("usage_report")}"', f'href="{reverse("admin:index")}"')
    client.force_login(admin_user)
    staff_page = client.get(reverse("gallery")).content.decode()
    assert all(link in staff_page for link in links)
    client.force_login(user)
    person_page = client.get(reverse("gallery")).content.decode()
    assert not any(link in person_page for link in links)


def test_an_admin_sets_a_persons_own_limit_on_their_page(admin_client: Client, user: Any) -> None:
    from accounts.models import AuditEntry

    Quota.objects.create(user=user, model=DEV, used=4, reserved=1)
    url = reverse("admin:accounts_user_change", args=[user.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    row = Quota.objects.get(user=user)
    response = admin_client.post(
        url,
        {
            "username": user.username,
            "first_name": "",
            "last_name": "",
            "email": user.email,
            "is_active": "on",
            "quotas-TOTAL_FORMS": "3",
            "quotas-INITIAL_FORMS": "1",
            "quotas-MIN_NUM_FORMS": "0",
            "quotas-MAX_NUM_FORMS": "1000",
            "quotas-0-id": str(row.pk),
            "quotas-0-user": str(user.pk),
            "quotas-0-model": DEV,
            "quotas-0-limit": "25",
            "quotas-1-user": str(user.pk),
            "quotas-1-model": "black-forest-labs/flux-schnell",
            "quotas-1-unlimited": "on",
            "quotas-2-user": str(user.pk),
            "quotas-2-model": "",  # the blank extra row
            "quotas-2-limit": "",
        },
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.limit, row.used, row.reserved) == (25, 4, 1)  # counts untouched
    assert Quota.objects.get(user=user, model="black-forest-labs/flux-schnell").unlimited
    assert AuditEntry.objects.filter(user=user, field="limit", new_value="25").exists()
    assert Quota.objects.filter(user=user).count() == 2
