"""Boards, presets and "Compare" in the portal, through Django's test client."""

from __future__ import annotations

import re
import zipfile
from io import BytesIO
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, User
from accounts.quota import quota_status
from boards.models import Board
from boards.selectors import LIST_PAGE_SIZE
from generations.erasure import erase_person
from generations.models import Generation
from generations.services import generation_succeed
from presets.models import Preset
from presets.selectors import PICKER_SIZE
from tests.images import png_bytes
from tests.portal_helpers import FLUX_DEV, make_generation

pytestmark = pytest.mark.django_db

KONTEXT_T2I = "black-forest-labs/flux-kontext-pro/text-to-image"
SCHNELL = "black-forest-labs/flux-schnell"  # no free images in the catalog


@pytest.fixture
def team(django_user_model: Any) -> dict[str, Client]:
    """Signed-in clients: alice and bob share the group "studio"; carol is in none."""
    group = Group.objects.create(name="studio")
    clients = {}
    for name in ("alice", "bob", "carol"):
        person = django_user_model.objects.create_user(name, f"{name}@ex.com", "pw-1234567")
        if name != "carol":
            person.groups.add(group)
        clients[name] = Client()
        clients[name].force_login(person)
    return clients


def _person(name: str) -> User:
    return User.objects.get(username=name)


def _shared_board(team: dict[str, Client], images: int = 2) -> tuple[Board, list[str]]:
    generation = make_generation(_person("alice"), images=images, prompt="a red kite")
    ids = [str(i.pk) for i in generation.images.all()]
    group = Group.objects.get(name="studio")
    made = team["alice"].post(
        reverse("boards"), {"name": "Kites", "sharing": "groups", "groups": [group.pk]}
    )
    board = Board.objects.get(name="Kites")
    assert made.status_code == 302
    assert made["Location"] == reverse("board_detail", args=[board.pk])
    added = team["alice"].post(
        reverse("board_add"), {"board": board.pk, "image": ids, "next": reverse("gallery")}
    )
    assert added.status_code == 302
    assert board.items.count() == images
    return board, ids


def test_a_board_shared_with_a_group_is_read_only_for_a_member(team: dict[str, Client]) -> None:
    board, ids = _shared_board(team)
    listing = team["bob"].get(reverse("boards")).content.decode()
    assert "Kites" in listing
    assert "studio" in listing
    page = team["bob"].get(reverse("board_detail", args=[board.pk])).content.decode()
    assert "a red kite" in page
    assert "Read-only" in page
    assert "Remove" not in page
    # the navigation still says where you are: under Boards
    assert f'<a href="{reverse("boards")}" aria-current="true">' in page
    thumb = team["bob"].get(reverse("board_image_thumbnail", args=[board.pk, ids[0]]))
    assert thumb.status_code == 200

    zipped = team["bob"].get(reverse("board_download", args=[board.pk]))
    with zipfile.ZipFile(BytesIO(b"".join(zipped.streaming_content))) as archive:  # type: ignore[attr-defined]
        assert len(archive.namelist()) == 2

    removing = team["bob"].post(reverse("board_remove", args=[board.pk, ids[0]]))
    assert removing.status_code == 403
    assert board.items.count() == 2
    assert team["bob"].post(reverse("board_delete", args=[board.pk])).status_code == 403


def test_a_member_remixes_from_a_shared_board_into_their_own_form(team: dict[str, Client]) -> None:
    board, ids = _shared_board(team)
    remix = team["bob"].get(reverse("board_remix", args=[board.pk, ids[0]]))
    assert remix.status_code == 302
    query = parse_qs(urlsplit(remix["Location"]).query)
    assert (query["model"], query["prompt"]) == ([FLUX_DEV], ["a red kite"])
    form = team["bob"].get(remix["Location"]).content.decode()
    assert "a red kite</textarea>" in form


def test_someone_outside_the_group_does_not_see_the_board(team: dict[str, Client]) -> None:
    board, ids = _shared_board(team)
    assert "Kites" not in team["carol"].get(reverse("boards")).content.decode()
    assert team["carol"].get(reverse("board_detail", args=[board.pk])).status_code == 404
    file = team["carol"].get(reverse("board_image_file", args=[board.pk, ids[0]]))
    assert file.status_code == 404
    assert team["carol"].get(reverse("board_remix", args=[board.pk, ids[0]])).status_code == 404


def test_the_gallery_and_image_page_offer_the_owners_boards(team: dict[str, Client]) -> None:
    _, ids = _shared_board(team)
    gallery = team["alice"].get(reverse("gallery")).content.decode()
    assert f'formaction="{reverse("board_add")}"' in gallery
    assert "Kites" in gallery
    detail = team["alice"].get(reverse("image_detail", args=[ids[0]])).content.decode()
    assert "Add to board" in detail


def test_a_group_preset_is_used_by_a_member_from_the_generate_page(
    team: dict[str, Client], enqueued: list[str]
) -> None:
    saved = team["alice"].post(
        reverse("preset_save"),
        {
            "model": FLUX_DEV,
            "prompt": "Product shot of {product} on {background}",
            "size": "512x512",
            "n": 1,
            "preset_name": "Product shot",
            "preset_share": "group:studio",
        },
    )
    preset = Preset.objects.get()
    assert saved["Location"].endswith(f"?preset={preset.pk}")
    assert (preset.model, preset.params["size"]) == (FLUX_DEV, "512x512")

    page = team["bob"].get(reverse("generate"), {"preset": preset.pk}).content.decode()
    assert "Product shot of {product} on {background}</textarea>" in page
    assert 'name="slot_product"' in page
    assert 'name="slot_background"' in page
    made = team["bob"].post(
        reverse("generate"),
        {
            "model": FLUX_DEV,
            "prompt": "Product shot of {product} on {background}",
            "size": "512x512",
            "n": 1,
            "preset": preset.pk,
            "slot_product": "a teapot",
            "slot_background": "slate",
        },
    )
    assert made.status_code == 302
    generation = Generation.objects.get(user=_person("bob"))
    assert (generation.prompt, generation.preset_id) == (
        "Product shot of a teapot on slate",
        preset.pk,
    )

    carol = team["carol"].get(reverse("generate"), {"preset": preset.pk}).content.decode()
    assert "slot_product" not in carol
    assert "Product shot" not in carol


def test_a_missing_slot_is_a_form_error_and_spends_nothing(
    team: dict[str, Client], enqueued: list[str]
) -> None:
    preset = Preset.objects.create(
        owner=_person("alice"), name="P", model=FLUX_DEV, template="A {thing}"
    )
    answer = team["alice"].post(
        reverse("generate"),
        {"model": FLUX_DEV, "prompt": "A {thing}", "n": 1, "preset": preset.pk, "slot_thing": ""},
    )
    assert answer.status_code == 400
    assert "thing" in answer.content.decode()
    assert enqueued == []
    assert not Generation.objects.exists()


def test_compare_sends_one_prompt_to_three_models_and_says_why_one_is_refused(
    team: dict[str, Client], enqueued: list[str]
) -> None:
    answer = team["alice"].post(
        reverse("compare"), {"prompt": "a lighthouse", "models": [FLUX_DEV, KONTEXT_T2I, SCHNELL]}
    )
    assert answer.status_code == 302
    jobs = list(Generation.objects.filter(user=_person("alice")))
    assert sorted(j.model for j in jobs) == sorted([FLUX_DEV, KONTEXT_T2I])
    assert len({j.comparison for j in jobs}) == 1
    assert jobs[0].comparison is not None
    for model in (FLUX_DEV, KONTEXT_T2I):  # each charged to its own quota
        assert quota_status(user=_person("alice"), model=model).reserved == 1
    page = team["alice"].get(answer["Location"]).content.decode()
    refused = page.split("compare-refused", 1)[1]
    assert "No free images left for this model." in refused

    history = team["alice"].get(reverse("gallery")).content.decode()
    assert answer["Location"] in history  # grouped: each tile links to its comparison

    # Each result opens its image's page, where it is starred, put on a board or remixed.
    generation_succeed(generation=jobs[0], images=[png_bytes()], channel="test")
    image = jobs[0].images.get()
    Board.objects.create(owner=_person("alice"), name="Picks")
    page = team["alice"].get(answer["Location"]).content.decode()
    assert f'href="{reverse("image_detail", args=[image.pk])}"' in page
    detail = team["alice"].get(reverse("image_detail", args=[image.pk])).content.decode()
    assert f'action="{reverse("image_star", args=[image.pk])}"' in detail
    assert f'<input type="hidden" name="image" value="{image.pk}"' in detail  # Add to board
    assert f'href="{reverse("generate")}?reuse={jobs[0].pk}' in detail  # remix


def test_compare_wants_two_to_four_models(team: dict[str, Client], enqueued: list[str]) -> None:
    answer = team["alice"].post(reverse("compare"), {"prompt": "x", "models": [FLUX_DEV]})
    assert answer.status_code == 400
    assert "Choose 2 to 4 models." in answer.content.decode()
    assert enqueued == []


def test_the_report_counts_generations_per_preset(
    team: dict[str, Client], admin_client: Client
) -> None:
    preset = Preset.objects.create(
        owner=_person("alice"), name="Product shot", model=FLUX_DEV, template="A {thing}"
    )
    for _ in range(2):
        Generation.objects.filter(pk=make_generation(_person("bob")).pk).update(preset=preset)
    make_generation(_person("bob"))  # not from a preset
    page = admin_client.get(reverse("usage_report")).content.decode()
    row = page.split('id="presets-title"', 1)[1]
    assert "<td>Product shot</td><td>alice</td><td>2</td><td>2</td>" in row
    csv = admin_client.get(reverse("usage_csv", args=["presets"])).content.decode()
    assert csv.splitlines() == ["preset,owner,generations,images", "Product shot,alice,2,2"]


def test_staff_with_the_permission_may_edit_a_board_and_it_is_audited(
    team: dict[str, Client], django_user_model: Any
) -> None:
    board, ids = _shared_board(team)
    staff = django_user_model.objects.create_user("sam", "sam@ex.com", "pw-1234567", is_staff=True)
    plain_staff = Client()
    plain_staff.force_login(staff)
    assert plain_staff.get(reverse("board_detail", args=[board.pk])).status_code == 404
    staff.user_permissions.add(Permission.objects.get(codename="change_board"))
    allowed = Client()
    allowed.force_login(staff)
    removed = allowed.post(reverse("board_remove", args=[board.pk, ids[0]]))
    assert removed.status_code == 302
    assert board.items.count() == 1
    entry = AuditEntry.objects.get(action="board image removed")
    assert (entry.actor, entry.user, entry.detail["image"]) == (staff, _person("alice"), ids[0])
    # sam is in no group: the sharing choices are the owner's groups
    studio = Group.objects.get(name="studio")
    assert allowed.post(reverse("board_share", args=[board.pk]), {"sharing": "private"})
    assert board.shared_with() == "private"
    page = allowed.get(reverse("board_detail", args=[board.pk])).content.decode()
    assert f'value="{studio.pk}"' in page
    shared = {"sharing": "groups", "groups": [studio.pk]}
    assert allowed.post(reverse("board_share", args=[board.pk]), shared).status_code == 302
    assert board.shared_with() == ["studio"]
    assert AuditEntry.objects.filter(action="board shared", actor=staff).count() == 2


def test_a_preset_is_shared_only_with_the_savers_own_groups(team: dict[str, Client]) -> None:
    form = {"model": FLUX_DEV, "prompt": "A {thing}", "size": "512x512", "n": 1}
    carol = team["carol"].post(
        reverse("preset_save"), {**form, "preset_name": "P", "preset_share": "group:studio"}
    )
    assert carol.status_code == 302
    assert not Preset.objects.exists()
    assert (
        "No group named &#x27;studio&#x27; among yours."
        in team["carol"].get(carol["Location"]).content.decode()
    )


@pytest.mark.parametrize("kind", ["board", "preset"])
def test_staff_edits_in_the_admin_are_audited_one_by_one_or_in_bulk(
    kind: str, team: dict[str, Client], admin_client: Client
) -> None:
    alice = _person("alice")
    rows: list[Board] | list[Preset]
    if kind == "board":
        rows = [Board.objects.create(owner=alice, name=f"B{i}") for i in range(3)]
    else:
        rows = [
            Preset.objects.create(owner=alice, name=f"P{i}", model=FLUX_DEV, template="x")
            for i in range(3)
        ]
    url = reverse(f"admin:{rows[0]._meta.app_label}_{kind}_changelist")
    edited = admin_client.post(
        reverse(f"admin:{rows[0]._meta.app_label}_{kind}_change", args=[rows[0].pk]),
        {
            "owner": alice.pk,
            "name": "Renamed",
            "description": "",
            "model": FLUX_DEV,
            "params": "{}",
            "template": "x",
        },
    )
    assert edited.status_code == 302
    one = admin_client.post(
        reverse(f"admin:{rows[0]._meta.app_label}_{kind}_delete", args=[rows[0].pk]),
        {"post": "yes"},
    )
    assert one.status_code == 302
    bulk = admin_client.post(
        url,
        {"action": "delete_selected", "_selected_action": [r.pk for r in rows[1:]], "post": "yes"},
    )
    assert bulk.status_code == 302
    assert not type(rows[0]).objects.exists()

    entries = AuditEntry.objects.filter(target_type=kind).order_by("pk")
    assert [(e.action, e.target_id, e.user) for e in entries] == [
        (f"{kind} edited by staff", str(rows[0].pk), alice),
        (f"{kind} deleted by staff", str(rows[0].pk), alice),
        (f"{kind} deleted by staff", str(rows[1].pk), alice),
        (f"{kind} deleted by staff", str(rows[2].pk), alice),
    ]


def test_erasure_takes_a_persons_boards_presets_and_their_images_off_others_boards(
    team: dict[str, Client],
) -> None:
    board, _ = _shared_board(team)  # alice's
    bobs = Board.objects.create(owner=_person("bob"), name="Bob's picks", shared_everyone=True)
    bobs.images.add(*make_generation(_person("alice"), images=1).images.all())
    Preset.objects.create(owner=_person("alice"), name="P", model=FLUX_DEV, template="x")

    erase_person(actor=None, user=_person("alice"))

    assert not Board.objects.filter(pk=board.pk).exists()
    assert not Preset.objects.exists()
    assert bobs.items.count() == 0  # the erased person's image left bob's board


def _rows(page: Any) -> list[str]:
    return re.findall(r'class="board-row"><a href="[^"]+"><strong>([^<]+)</strong>', page)


def test_the_boards_page_pages_each_list(team: dict[str, Client]) -> None:
    studio = Group.objects.get(name="studio")
    count = LIST_PAGE_SIZE + 6
    names = [f"board {i:02d}" for i in range(count)]
    for board in Board.objects.bulk_create(Board(owner=_person("alice"), name=n) for n in names):
        board.shared_groups.add(studio)

    for who, param, section in (("alice", "page", "boards-mine"), ("bob", "shared_page", None)):
        first = team[who].get(reverse("boards")).content.decode()
        assert _rows(first) == names[:LIST_PAGE_SIZE]
        following = re.search(r'href="([^"]+)">Next</a>', first)
        assert following, "no link to the next page"
        assert following.group(1) == f"?{param}=2#{section or 'boards-shared'}"
        second = team[who].get(reverse("boards") + following.group(1)).content.decode()
        assert _rows(second) == names[LIST_PAGE_SIZE:]
        assert ">Next</a>" not in second
    assert _rows(team["carol"].get(reverse("boards")).content.decode()) == []


def test_the_preset_picker_shows_a_few_and_searches_the_rest(team: dict[str, Client]) -> None:
    studio = Group.objects.get(name="studio")
    names = [f"shot {i:02d}" for i in range(PICKER_SIZE + 5)]
    made = Preset.objects.bulk_create(
        Preset(owner=_person("alice"), name=n, model=FLUX_DEV, template="{x} at dusk")
        for n in names
    )
    for preset in made:
        preset.shared_groups.add(studio)

    def shown(page: str) -> list[str]:
        return re.findall(r"\?preset=\d+\"><strong>([^<]+)</strong>", page)

    page = team["bob"].get(reverse("generate")).content.decode()
    assert shown(page) == names[:PICKER_SIZE]
    assert f"Showing the first {PICKER_SIZE} presets: search to find the others." in page
    found = team["bob"].get(reverse("preset_options"), {"presets_q": "SHOT 23"}).content.decode()
    assert shown(found) == ["shot 23"]
    assert "Showing the first" not in found
    # Without JavaScript the search reloads the generate page, the picker open.
    reloaded = team["bob"].get(reverse("generate"), {"presets_q": "shot 24"}).content.decode()
    assert shown(reloaded) == ["shot 24"]
    assert '<details class="preset-picker" open>' in reloaded
    outsider = team["carol"].get(reverse("preset_options"), {"presets_q": "shot"}).content.decode()
    assert (shown(outsider), "No preset matches that search." in outsider) == ([], True)
