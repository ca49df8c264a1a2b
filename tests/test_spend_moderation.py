"""The moderation gate: blocked terms in disguise, the moderation API (simulated) and
its outage both ways; a refusal spends nothing and sends nothing upstream."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import AuditEntry
from accounts.quota import quota_status
from common.errors import ModerationBlocked
from generations.models import Generation, ModerationRefusal, PolicyTerm
from generations.spend.changes import policy_block
from generations.spend.moderation import ModerationUnavailable, normalise
from simulator.server import SimulatorServer
from tests.upstreams import create, run_to_end, sim_fixture  # noqa: F401

pytestmark = pytest.mark.django_db
DEV = "black-forest-labs/flux.1-dev"

DISGUISES = [
    "a painting with n\u200budity in it",  # a zero-width space inside
    "a painting with \uff4e\uff55\uff44\uff49\uff54\uff59",  # full-width letters
    "a painting with NUDITY",  # capitals
    "a painting with nudit\u0443",  # a Cyrillic u (looks like y)
    "a painting with nu\u0301dity",  # a combining accent
]


def nothing_spent(user: Any, sim: SimulatorServer) -> bool:
    status = quota_status(user=user, model=DEV)
    generating = [r for r in sim.requests("/v1/") if r["path"] != "/v1/moderations"]
    return (status.used, status.reserved) == (0, 0) and not generating


@pytest.mark.parametrize("prompt", DISGUISES)
def test_a_blocked_term_is_caught_in_disguise_and_spends_nothing(
    sim: SimulatorServer, user: Any, enqueued: list, prompt: str
) -> None:
    call_command("policy", "block", "nudity")

    with pytest.raises(ModerationBlocked) as refused:
        create(user, DEV, prompt=prompt)

    assert refused.value.envelope() == {
        "error": {
            "message": "This prompt was refused by this instance's content policy; "
            "nothing was charged.",
            "type": "invalid_request_error",
            "param": "prompt",
            "code": "moderation_blocked",
        }
    }
    assert "nudity" not in refused.value.message  # names the policy, not the term
    assert nothing_spent(user, sim)
    assert not Generation.objects.exists()
    assert not enqueued
    review = ModerationRefusal.objects.get()
    assert (review.username, review.model, review.policy) == ("alice", DEV, "instance")
    entry = AuditEntry.objects.get(action="moderation refused")
    assert entry.detail["prompt_sha256"] == review.prompt_sha256
    assert entry.user == user


def test_a_groups_policy_applies_to_its_members_only(
    sim: SimulatorServer, user: Any, other_user: Any, enqueued: list
) -> None:
    group = Group.objects.create(name="kids")
    user.groups.add(group)
    call_command("policy", "block", "blood", "--group", "kids")

    with pytest.raises(ModerationBlocked, match="group kids"):
        create(user, DEV, prompt="blood moon")
    assert run_to_end(create(other_user, DEV, prompt="blood moon")).status == "succeeded"


def test_the_policy_command_blocks_unblocks_shows_and_audits(db: Any, capsys: Any) -> None:
    call_command("policy", "block", "gore")
    call_command("policy", "block", r"\bkill(ing)?\b", "--pattern")
    call_command("policy", "show")
    out = capsys.readouterr().out
    assert "instance" in out
    assert "gore" in out
    assert "pattern" in out
    call_command("policy", "unblock", "gore")
    assert list(PolicyTerm.objects.values_list("term", flat=True)) == [r"\bkill(ing)?\b"]
    actions = list(AuditEntry.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["policy term blocked", "policy term blocked", "policy term unblocked"]
    with pytest.raises(CommandError, match="not blocked"):
        call_command("policy", "unblock", "gore")
    with pytest.raises(CommandError, match="regular expression"):
        call_command("policy", "block", "(", "--pattern")


def test_normalise_folds_width_case_marks_and_confusables() -> None:
    assert all("nudity" in normalise(p) for p in DISGUISES)
    assert normalise("Ｃａｆé\u200d") == "cafe"


def test_the_moderation_api_flags_a_prompt_before_the_upstream(
    sim: SimulatorServer, user: Any, enqueued: list, settings: Any
) -> None:
    settings.DARKROOM_MODERATION_URL = f"{sim.url}/v1"
    settings.DARKROOM_MODERATION_API_KEY = "sim-key"

    with pytest.raises(ModerationBlocked, match="moderation service"):
        create(user, DEV, prompt="a duel [sim:flag=violence]")
    assert nothing_spent(user, sim)
    assert ModerationRefusal.objects.get().policy == "moderation-api:violence"
    [call] = sim.requests("/v1/moderations")
    assert call["status"] == 200
    assert run_to_end(create(user, DEV, prompt="a calm lake")).status == "succeeded"


def test_the_moderation_field_never_weakens_the_policy(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    from accounts.api_keys import api_key_issue
    from generations.api.serializers import parse_json
    from generations.api.services import api_generation_submit

    call_command("policy", "block", "nudity")
    key = api_key_issue(user=user, name="t")[0]
    call = parse_json(
        b'{"model": "%s", "prompt": "nudity", "moderation": "low"}' % DEV.encode(),
        path="/v1/images/generations",
    )
    with pytest.raises(ModerationBlocked):
        api_generation_submit(key=key, call=call)


@pytest.mark.parametrize("fail_open", [False, True])
def test_a_moderation_api_that_is_down_fails_closed_or_open(
    sim: SimulatorServer, user: Any, enqueued: list, settings: Any, fail_open: bool, caplog: Any
) -> None:
    settings.DARKROOM_MODERATION_URL = f"{sim.url}/v1"
    settings.DARKROOM_MODERATION_API_KEY = "sim-key"
    settings.DARKROOM_MODERATION_FAIL_OPEN = fail_open
    sim.add_fault("server_error", times=-1, path="/v1/moderations", status=503)

    if fail_open:
        assert run_to_end(create(user, DEV, prompt="a calm lake")).status == "succeeded"
        assert "failing open" in caplog.text
    else:
        with pytest.raises(ModerationUnavailable) as refused:
            create(user, DEV, prompt="a calm lake")
        assert refused.value.status == 503
        assert refused.value.code == "moderation_unavailable"
        assert nothing_spent(user, sim)
        assert "failing closed" in caplog.text


def test_the_admin_refuses_a_pattern_that_is_not_a_regular_expression(
    admin_client: Any, user: Any, enqueued: list
) -> None:
    response = admin_client.post(
        "/admin/generations/policyterm/add/", {"term": "(nud", "kind": "pattern", "group": ""}
    )

    assert response.status_code == 200  # the form again, with the error
    assert "not a regular expression" in response.content.decode()
    assert not PolicyTerm.objects.exists()
    # Saved, it would have failed every later request with a server error.
    assert create(user, DEV, prompt="a calm lake").status == Generation.Status.QUEUED
    with pytest.raises(ValueError, match="regular expression"):
        policy_block(term="(nud", pattern=True)


@pytest.mark.parametrize(
    ("prompt", "blocked"),
    [
        ("a field of g o r e", True),  # a word spelled apart
        ("a field of g.o.r-e", True),
        ("a field of go_re", True),
        ("a field of GORE!", True),
        ("algorement", True),  # a word that holds the term: as the term itself
        ("这是血 腥的画面", True),  # an unspaced script, a space slipped into the term
        ("a tango red dress", False),  # the letters run across two words
        ("a mango, red sunset", False),
        ("go red", False),
    ],
)
def test_a_term_is_not_found_across_the_ends_of_other_words(
    user: Any, enqueued: list, prompt: str, blocked: bool
) -> None:
    """Spaces and punctuation inside a word are ignored, not those between words: the
    term must start and end where words of the prompt do, or `gore` refuses a tango."""
    call_command("policy", "block", "gore")
    call_command("policy", "block", "血腥")

    if blocked:
        with pytest.raises(ModerationBlocked):
            create(user, DEV, prompt=prompt)
    else:
        assert create(user, DEV, prompt=prompt).status == Generation.Status.QUEUED


def test_staff_review_refusals_in_the_admin_and_mark_them_reviewed(
    admin_client: Any, user: Any, enqueued: list
) -> None:
    call_command("policy", "block", "gore")
    with pytest.raises(ModerationBlocked):
        create(user, DEV, prompt="gore at dawn")
    refusal = ModerationRefusal.objects.get()

    page = admin_client.get("/admin/generations/moderationrefusal/").content.decode()
    assert "alice" in page
    assert "instance" in page
    assert "gore at dawn" not in page  # the list keeps a hash, never the prompt
    response = admin_client.post(
        "/admin/generations/moderationrefusal/",
        {"action": "mark_reviewed", "_selected_action": [refusal.pk]},
    )
    assert response.status_code == 302
    refusal.refresh_from_db()
    assert refusal.reviewed


def test_a_term_blocked_and_unblocked_in_the_admin_is_audited(admin_client: Any) -> None:
    added = admin_client.post(
        "/admin/generations/policyterm/add/", {"term": "gore", "kind": "term", "group": ""}
    )
    assert added.status_code == 302
    term = PolicyTerm.objects.get()
    deleted = admin_client.post(f"/admin/generations/policyterm/{term.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302

    assert not PolicyTerm.objects.exists()
    entries = AuditEntry.objects.filter(action__startswith="policy term").order_by("pk")
    assert [(e.action, e.actor_name) for e in entries] == [
        ("policy term blocked", "admin"),
        ("policy term unblocked", "admin"),
    ]
