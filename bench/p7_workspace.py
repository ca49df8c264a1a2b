"""P7: boards and presets lists with 1,000 boards and 10,000 images on them, against 10.

    .venv/bin/python -m bench.p7_workspace [--boards 1000] [--rounds 10]

Rows are made once with bulk SQL in `darkroom_bench_perf`: the P3 person with 10,000
images owns the boards (10 images each, so 10,000 on boards) and as many presets, each
shared with a group a second person is in. Each round requests, as that second person,
the boards page, one board's page, the generate page (its preset picker), the picker's
search, and the API's board and preset lists (called in-process, first page), then the
same for a person who sees 10.
Prints server time and the number of queries, which must not grow with the boards.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from bench.p3_gallery import ensure_person
from bench.stack import quantile, setup_django, summary

BASE_BOARDS = 10
IMAGES_PER_BOARD = 10


def ensure_team(boards: int) -> tuple[Any, Any]:
    """(owner, viewer): the owner's boards and presets shared with the viewer's group."""
    from django.contrib.auth.models import Group
    from django.db import connection

    from accounts.models import User

    owner = ensure_person(10_000) if boards > BASE_BOARDS else ensure_person(1_000)
    viewer, _ = User.objects.get_or_create(username=f"bench-viewer-{boards}")
    group, _ = Group.objects.get_or_create(name=f"bench-team-{boards}")
    viewer.groups.add(group)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM boards_board_shared_groups WHERE group_id = %s", [group.pk]
        )
        if cursor.fetchone()[0] >= boards:
            return owner, viewer
        print(f"making {boards} boards and presets ...", flush=True)
        params = {"owner": owner.pk, "group": group.pk, "n": boards, "per": IMAGES_PER_BOARD}
        for sql in _MAKE:
            cursor.execute(sql, params)
    return owner, viewer


_MAKE = [
    """INSERT INTO boards_board (owner_id, shared_everyone, name, description, created_at)
       SELECT %(owner)s, false, 'board ' || i || ' g' || %(group)s, '', now()
       FROM generate_series(1, %(n)s) AS i""",
    """INSERT INTO boards_board_shared_groups (board_id, group_id)
       SELECT id, %(group)s FROM boards_board WHERE name LIKE '%% g' || %(group)s""",
    """INSERT INTO boards_boardimage (board_id, image_id, added_at)
       SELECT b.id, i.id, now()
       FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM boards_board
             WHERE name LIKE '%% g' || %(group)s) b
       JOIN (SELECT im.id, row_number() OVER (ORDER BY im.id) - 1 AS k
             FROM generations_image im JOIN generations_generation g ON g.id = im.generation_id
             WHERE g.user_id = %(owner)s) i
         ON i.k / %(per)s = b.k""",
    """INSERT INTO presets_preset (owner_id, shared_everyone, name, model, params, template,
                                  created_at)
       SELECT %(owner)s, false, 'preset ' || i || ' g' || %(group)s,
              'black-forest-labs/flux.1-dev', '{}'::jsonb, 'A {thing} number ' || i, now()
       FROM generate_series(1, %(n)s) AS i""",
    """INSERT INTO presets_preset_shared_groups (preset_id, group_id)
       SELECT id, %(group)s FROM presets_preset WHERE name LIKE '%% g' || %(group)s""",
    "ANALYZE boards_board; ANALYZE boards_boardimage; ANALYZE presets_preset",
]


def timed(fn: Callable[[], Any]) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        fn()
        elapsed = (time.perf_counter() - start) * 1000
    return elapsed, len(queries)


def views(viewer: Any) -> dict[str, Callable[[], Any]]:
    from django.test import Client
    from django.urls import reverse

    from boards.api.views import _list as boards_api
    from boards.models import Board
    from generations.api.presets import _list as presets_api

    client = Client()
    client.force_login(viewer)
    board = Board.objects.filter(shared_groups__user=viewer).order_by("pk").first()
    assert board is not None

    def page(url: str) -> Callable[[], Any]:
        def get() -> None:
            assert client.get(url).status_code == 200

        return get

    return {
        "GET /boards/": page(reverse("boards")),
        "GET /boards/<id>/": page(reverse("board_detail", args=[board.pk])),
        "GET / (preset picker)": page(reverse("generate")),
        "GET /presets/options/?presets_q= (picker search)": page(
            reverse("preset_options") + "?presets_q=preset+7"
        ),
        "/v1/boards list": lambda: boards_api(viewer),
        "/v1/presets list": lambda: presets_api(viewer),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boards", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    setup_django()
    sizes = [BASE_BOARDS, args.boards]
    subjects = {n: views(ensure_team(n)[1]) for n in sizes}
    times: dict[tuple[str, int], list[float]] = {}
    counts: dict[tuple[str, int], int] = {}
    for n in sizes:  # warm up
        for fn in subjects[n].values():
            fn()
    for _ in range(args.rounds):
        for name in subjects[sizes[0]]:
            for n in sizes:
                ms, count = timed(subjects[n][name])
                times.setdefault((name, n), []).append(ms)
                counts[(name, n)] = count
    print(f"\nP7 boards and presets, {args.rounds} rounds, in-process server time")
    for name in subjects[sizes[0]]:
        for n in sizes:
            label = f"{name} @{n} boards"
            print(f"{summary(label, times[(name, n)])} | {counts[(name, n)]} queries")
        base, big = (quantile(times[(name, n)], 0.5) for n in sizes)
        print(f"  median ratio {sizes[1]} / {sizes[0]} boards: {big / base:.2f}x")


if __name__ == "__main__":
    main()
