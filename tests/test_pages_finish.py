"""Issue 24's finishing touches, through the real routes: staff pages refuse non-staff with
the portal's 403, two-factor says when the throttle speaks and audits on/off, the admin's
API key form picks models from the catalog, the audit log speaks zh-hans, jobs without
images say why, "Your usage" reads like the portal, static files and manage.py are quiet.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.api_keys import api_key_issue
from accounts.api_keys.services import api_keys_revoke
from accounts.models import ApiKey, AuditEntry, ErasureRequest
from accounts.quota.caps import key_cap_set
from generations.models import Generation
from generations.services import generation_create, generation_succeed
from tests.images import png_bytes
from tests.portal_helpers import alert_and_refusal

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
DEV = "black-forest-labs/flux.1-dev"
KMAX = "black-forest-labs/flux-kontext-max"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def _code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time += steps_ahead * device.step
    return f"{totp.token():06d}"


# --- staff pages ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/reports/usage/", "/admin/", "/admin/accounts/user/"])
def test_a_person_who_is_not_staff_gets_the_portals_403(user: Any, path: str) -> None:
    client = Client()
    client.force_login(user)

    page = client.get(path, follow=True)

    assert page.status_code == 403
    body = page.content.decode()
    assert "You can't open this page" in body
    assert "not authorized" not in body


def test_signed_out_people_are_sent_to_sign_in_and_staff_get_in(admin_user: Any) -> None:
    assert Client().get("/reports/usage/")["Location"].startswith("/accounts/login/")
    assert "/admin/login/" in Client().get("/admin/")["Location"]
    client = Client()
    client.force_login(admin_user)
    assert client.get("/reports/usage/").status_code == 200
    assert client.get("/admin/").status_code == 200


# --- two-factor ----------------------------------------------------------------------


def test_a_right_code_right_after_a_wrong_one_is_told_to_wait(user: Any) -> None:
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})

    wrong = client.post("/accounts/2fa/verify/", {"code": "000000"}).content.decode()
    early = client.post("/accounts/2fa/verify/", {"code": _code(device)}).content.decode()

    assert "That code is not right" in wrong
    assert "Wait 1 second before the next try" in wrong
    assert "A wrong code pauses checking: wait 1 second" in early
    assert "That code is not right" not in early  # the throttle, not the code, refused it
    assert "_auth_user_id" not in client.session


def test_turning_two_factor_on_and_off_is_audited_and_off_needs_a_code(
    client: Client, user: Any, settings: Any
) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client.force_login(user)
    client.get("/accounts/2fa/")
    device = TOTPDevice.objects.get(user=user)
    assert client.post("/accounts/2fa/", {"code": _code(device)}).status_code == 302
    assert "Two-factor sign-in is on." in client.get("/accounts/2fa/").content.decode()

    refused = client.post("/accounts/2fa/", {"code": "000000"})
    assert refused.status_code == 200
    assert TOTPDevice.objects.filter(user=user).exists()
    off = client.post("/accounts/2fa/", {"code": _code(device, 1)}, follow=True)

    page = off.content.decode()
    assert "Two-factor sign-in is off" in page
    assert "<svg" not in page
    assert not TOTPDevice.objects.filter(user=user).exists()  # no fresh secret made
    actions = AuditEntry.objects.filter(user=user).values_list("action", "actor_name")
    assert [a for a in actions if a[0].startswith("two-factor")] == [
        ("two-factor off", "alice"),
        ("two-factor on", "alice"),
    ]


# --- the admin's forms and the audit log -----------------------------------------------


def test_the_api_key_form_picks_models_from_the_catalog_and_shows_last_use_read_only(
    admin_user: Any, user: Any
) -> None:
    key, _ = api_key_issue(user=user, name="ci")
    client = Client()
    client.force_login(admin_user)
    url = f"/admin/accounts/apikey/{key.pk}/change/"

    form = client.get(url).content.decode()

    assert f'type="checkbox" name="allowed_models" value="{DEV}"' in form
    assert '<select name="cap_model"' in form
    assert f'<option value="{KMAX}"' in form
    assert 'name="last_used_at"' not in form
    data = {
        "name": "ci",
        "user": user.pk,
        "allowed_models": [DEV, KMAX],
        "image_cap": "5",
        "cap_period": "never",
        "cap_model": KMAX,
        "_save": "Save",
    }
    assert client.post(url, data).status_code == 302
    key.refresh_from_db()
    assert (key.allowed_models, key.cap_model, key.image_cap) == ([DEV, KMAX], KMAX, 5)
    # The cap went through the audited service: logged against the key, by the admin.
    logged = AuditEntry.objects.filter(action="key cap").order_by("field")
    assert [(e.field.split()[-1], e.target_type, e.target_id, e.actor) for e in logged] == [
        ("cap_model", "api key", key.prefix, admin_user),
        ("image_cap", "api key", key.prefix, admin_user),
    ]
    bad = client.post(url, {**data, "cap_model": "no/such-model"})
    assert bad.status_code == 200
    assert "no/such-model" in bad.content.decode()


# What the library's own fields say, in English only (django-rest-framework-api-key).
LIBRARY_ENGLISH = (
    "A free-form name",
    "Need not be unique",
    "clients cannot use it anymore",
    "This cannot be undone",
    "store it somewhere safe",
)


def _text(html: str, start: str = 'id="content"') -> str:
    content = html[html.index(start) :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", content))


def test_the_api_key_admin_speaks_chinese_for_new_live_and_revoked_keys(
    admin_user: Any, user: Any
) -> None:
    live, _ = api_key_issue(user=user, name="ci")
    old, _ = api_key_issue(user=user, name="old")
    api_keys_revoke(keys=[old])
    client = Client()
    client.force_login(admin_user)

    add = _text(client.get("/admin/accounts/apikey/add/", **ZH).content.decode())
    change = _text(client.get(f"/admin/accounts/apikey/{live.pk}/change/", **ZH).content.decode())
    revoked = _text(client.get(f"/admin/accounts/apikey/{old.pk}/change/", **ZH).content.decode())
    created = client.post(
        "/admin/accounts/apikey/add/",
        {"name": "laptop", "user": user.pk, "cap_period": "never", "_save": "1"},
        follow=True,
        **ZH,
    )

    for page in (add, change, revoked):
        assert [e for e in LIBRARY_ENGLISH if e in page] == []
    assert "仅供辨认" in change
    assert "使用该密钥的请求都会失败" in change
    # The library's read-only fields on a revoked key, under Chinese labels.
    for label in ("名称: old", "已吊销:", "过期时间:"):
        assert label in revoked
    assert "Name:" not in revoked
    message = _text(created.content.decode(), start='class="messagelist"')
    new_key = ApiKey.objects.get(name="laptop")
    assert f"{new_key.prefix}." in message
    assert "请立即复制" in message
    assert [e for e in LIBRARY_ENGLISH if e in message] == []
    assert AuditEntry.objects.filter(action="key created", target_id=new_key.prefix).exists()


def test_the_admins_bookkeeping_fields_two_factor_and_sso_speak_chinese(
    admin_user: Any, user: Any
) -> None:
    job = generation_create(user=user, model=DEV, prompt="a fox", params={})
    generation_succeed(generation=job, images=[png_bytes()], channel="sim")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    client.force_login(admin_user)
    pages = {
        "job": f"/admin/generations/generation/{job.pk}/change/",
        "image": f"/admin/generations/image/{job.images.get().pk}/change/",
        "device": f"/admin/otp_totp/totpdevice/{device.pk}/change/",
        "term": "/admin/generations/policyterm/add/",
        "price": "/admin/providers/price/add/",
        "channel": "/admin/providers/channel/add/",
        "sso app": "/admin/socialaccount/socialapp/add/",
        "sso account": "/admin/socialaccount/socialaccount/add/",
        "sso token": "/admin/socialaccount/socialtoken/add/",
    }
    text = {k: _text(client.get(url, **ZH).content.decode()) for k, url in pages.items()}

    english = {
        "job": (
            "Api key:",
            "Lease owner:",
            "Budget reserved:",
            "Purged images:",
            "Index",
            "succeeded",
        ),
        "image": ("Sha256:", "Credentials signer:", "File:", "Thumbnail:"),
        "device": ("human-readable name", "Throttling", "Timestamps", "username or email"),
        "term": ("Group:",),
        "price": ("Channel:",),
        "channel": ("Format:",),
        "sso app": ("Provider:", "Settings:"),
        "sso account": ("User:",),
        "sso token": ("App:", "Account:"),
    }
    assert {k: [e for e in words if e in text[k]] for k, words in english.items()} == {
        k: [] for k in english
    }
    assert "API 密钥:" in text["job"]
    assert "租约持有者:" in text["job"]
    assert "内容凭证签名者:" in text["image"]
    assert "输错记录" in text["device"]
    assert "用户组:" in text["term"]
    assert "通道:" in text["price"]


def test_the_admins_person_columns_and_alert_fields_speak_chinese(
    admin_user: Any, user: Any
) -> None:
    """Fields declared without a verbose name show their English field name in zh-hans:
    the API key list's person column among them (named in issue 24)."""
    api_key_issue(user=user, name="ci")
    erasure = ErasureRequest.objects.create(user=user)
    group = Group.objects.create(name="designers")
    alert, refusal = alert_and_refusal(group, user)
    client = Client()
    client.force_login(admin_user)
    pages = {
        "keys": "/admin/accounts/apikey/",
        "erasures": "/admin/accounts/erasurerequest/",
        "erasure": f"/admin/accounts/erasurerequest/{erasure.pk}/change/",
        "alerts": "/admin/generations/budgetalert/",
        "alert": f"/admin/generations/budgetalert/{alert.pk}/change/",
        "refusal": f"/admin/generations/moderationrefusal/{refusal.pk}/change/",
    }
    text = {k: _text(client.get(url, **ZH).content.decode()) for k, url in pages.items()}

    english = ("User", "Budget", "Period start", "Currency", "Mailed", "Webhook status", "open)")
    found = {
        k: [e for e in english if re.search(rf"\b{re.escape(e)}", page)] for k, page in text.items()
    }
    assert found == {k: [] for k in pages}


def test_a_key_cap_change_is_logged_against_the_key(user: Any, admin_user: Any) -> None:
    key, _ = api_key_issue(user=user, name="ci")
    key_cap_set(actor=admin_user, key=key, image_cap=3, cap_period="never", cap_model="")
    entry = AuditEntry.objects.get(action="key cap")
    assert (entry.target_type, entry.target_id) == ("api key", key.prefix)


def test_the_audit_log_and_the_admin_index_speak_chinese(admin_user: Any, user: Any) -> None:
    api_key_issue(user=user, name="ci")
    client = Client()
    client.force_login(admin_user)

    index = client.get("/admin/", **ZH).content.decode()
    log = client.get("/admin/accounts/auditentry/", **ZH).content.decode()
    entry = AuditEntry.objects.get(action="key created")
    one = client.get(f"/admin/accounts/auditentry/{entry.pk}/change/", **ZH).content.decode()
    keys = client.get("/admin/accounts/apikey/", **ZH).content.decode()

    for english in ("Axes", "OTP_TOTP", "Audit log", "TOTP devices", "Access attempts"):
        assert english not in index
    # The index's column headers, read out by screen readers.
    assert "Model name" not in index
    assert "模型名称" in index
    assert "审计日志" in index
    assert "登录锁定" in index
    assert "两步验证" in index
    assert "创建密钥" in log
    assert "key created" not in log
    assert "审计条目" in one
    assert "key created" not in one
    assert "audit entry" not in one
    leaks = ("Prefix", "Has expired", "Revoke the selected keys", "以 created", "以 revoked")
    assert [e for e in leaks if e in keys] == []


# --- portal pages ----------------------------------------------------------------------


def test_a_job_whose_images_were_all_deleted_says_so(client: Client, user: Any) -> None:
    client.force_login(user)
    job = generation_create(user=user, model=DEV, prompt="a fox", params={})
    generation_succeed(generation=job, images=[png_bytes()], channel="sim")
    job.images.all().delete()

    card = client.get(f"/jobs/{job.pk}/").content.decode()

    assert "Its images were deleted." in card


def test_a_text_only_image_lists_no_reference_strength(client: Client, user: Any) -> None:
    client.force_login(user)
    job = generation_create(user=user, model=DEV, prompt="a fox", params={"strength": 0.8})
    generation_succeed(generation=job, images=[png_bytes()], channel="sim")
    image = Generation.objects.get().images.get()

    page = client.get(f"/images/{image.pk}/").content.decode()

    assert "Reference strength" not in page
    assert "Seed" in page


def test_your_usage_has_one_heading_a_styled_table_and_translated_model_names(
    client: Client, user: Any
) -> None:
    client.force_login(user)
    english = client.get("/accounts/usage/").content.decode()
    chinese = client.get("/accounts/usage/", **ZH).content.decode()

    assert english.count("<h1>Your usage</h1>") == 1
    assert '<h2 id="usage-title">Your usage' not in english  # not twice over the table
    assert 'class="table usage-table"' in english
    assert "several references" in english
    assert "several references" not in chinese
    assert "多张参考图" in chinese
    assert "你的用量" in chinese


# --- quiet operations ----------------------------------------------------------------


def test_static_files_are_served_whole_on_the_async_path(settings: Any) -> None:
    """A streamed file response with a sync iterator makes Django under ASGI warn
    "StreamingHttpResponse must consume synchronous iterators" on every CSS file."""
    from common.static_middleware import AsyncCapableWhiteNoiseMiddleware

    async def portal(request: Any) -> HttpResponse:
        return HttpResponse("not a static file")

    settings.WHITENOISE_USE_FINDERS = True
    middleware = AsyncCapableWhiteNoiseMiddleware(portal)
    request = RequestFactory().get("/static/css/darkroom.css")

    response = asyncio.run(middleware(request))

    assert response.status_code == 200
    assert not response.streaming
    assert b".topbar" in response.content
    assert response["Content-Type"].startswith("text/css")


def test_manage_py_prints_no_axes_banner_nor_kombu_hostname_warning(tmp_path: Path) -> None:
    script = (
        "from config.celery import app\n"
        "with app.connection_for_write() as conn: conn._info()\n"
        "print('broker', app.conf.broker_url)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SECRET_KEY": "tests-only-insecure-key-subprocess",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "broker filesystem://localhost/" in output
    assert "AXES: BEGIN" not in output
    assert "No hostname" not in output
