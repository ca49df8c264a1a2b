"""P3: the gallery of one person with 100,000 images (PostgreSQL), against 1,000.

    .venv/bin/python -m bench.p3_gallery [--rows 10000,100000] [--rounds 20]

Rows are made once with bulk SQL in `darkroom_bench_perf` (one person per size, one
image per succeeded generation, a few failed ones and stars). Each round requests, for
every size in turn, the first page, a model filter, a prompt search with no match and
page 40 (reached by following the page's own "load more" link), in-process through
Django's test client: server time including the template, and the queries it ran.
The baseline is the same request for a person with 1,000 rows, in the same round.
"""

from __future__ import annotations

import argparse
import re
import time
from html import unescape
from typing import Any

from bench.stack import quantile, setup_django, summary

BASE_ROWS = 1_000
MODELS = [
    "black-forest-labs/flux.1-dev",
    "black-forest-labs/flux-schnell",
    "black-forest-labs/flux-kontext-max",
    "black-forest-labs/flux-kontext-pro",
]


def ensure_person(rows: int) -> Any:
    from django.db import connection

    from accounts.models import User
    from generations.models import Generation

    user, _ = User.objects.get_or_create(username=f"bench-{rows}")
    have = Generation.objects.filter(user=user).count()
    if have >= rows:
        return user
    missing = rows - have
    print(f"making {missing} generations for {user.username} ...", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_GENERATIONS, {"user": user.pk, "rows": missing, "models": MODELS})
        cursor.execute(_INSERT_IMAGES, {"user": user.pk})
        cursor.execute("ANALYZE generations_generation; ANALYZE generations_image")
    return user


_INSERT_GENERATIONS = """
INSERT INTO generations_generation
    (id, user_id, model, prompt, params, n, source, status, error_code, error_message,
     channel, upstream_id, retries, attempts, quota_reserved, quota_state,
     created_at, finished_at, key_quota_reserved, lease_owner, step, purged_images, quota_used,
     quota_budget, lease_token, budget_reserved, budgets, cost, cost_undelivered)
SELECT gen_random_uuid(), %(user)s, (%(models)s::text[])[1 + i %% 4],
       'a ' || (ARRAY['red','blue','misty','golden','quiet'])[1 + i %% 5] || ' '
            || (ARRAY['harbour','fox','forest','city','lighthouse','desert'])[1 + i %% 6]
            || ' number ' || i,
       '{"n": 1, "size": "1024x1024"}'::jsonb, 1, 'portal',
       CASE WHEN i %% 50 = 0 THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN i %% 50 = 0 THEN 'upstream_error' ELSE '' END, '', 'bench', '', 0, '[]', 1,
       CASE WHEN i %% 50 = 0 THEN 'released' ELSE 'committed' END,
       now() - make_interval(secs => i * 60), now() - make_interval(secs => i * 60 - 5),
       0, '', 0, 0, CASE WHEN i %% 50 = 0 THEN 0 ELSE 1 END,
       'person', 0, 0, '[]', 0, 0
FROM generate_series(1, %(rows)s) AS i
"""

_INSERT_IMAGES = """
INSERT INTO generations_image
    (id, generation_id, index, file, thumbnail, width, height, format, bytes, sha256,
     starred, created_at, credentials, credentials_signer, thumbnail_bytes)
SELECT gen_random_uuid(), g.id, 0, 'images/00/bench.png', 'thumbs/00/bench.webp',
       1024, 1024, 'PNG', 100000, repeat('0', 64), random() < 0.01, g.finished_at,
       'signed', 'bench', 4000
FROM generations_generation g
WHERE g.user_id = %(user)s AND g.status = 'succeeded'
  AND NOT EXISTS (SELECT 1 FROM generations_image i WHERE i.generation_id = g.id)
"""

_NEXT = re.compile(r'hx-get="([^"]+)"[^>]*hx-trigger="revealed"')


def page_40_url(client: Any) -> str:
    from django.urls import reverse

    url = reverse("gallery")
    for _ in range(39):
        body = client.get(url).content.decode()
        found = _NEXT.search(body)
        assert found, "the gallery ended before page 40"
        url = reverse("gallery") + unescape(found.group(1))
    return url


def timed(client: Any, url: str) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, response.status_code
    sql = sum(float(q["time"]) for q in queries.captured_queries) * 1000
    return elapsed, sql, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="10000,100000")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    setup_django()
    from django.test import Client
    from django.urls import reverse

    sizes = [BASE_ROWS, *(int(r) for r in args.rows.split(","))]
    clients: dict[int, Any] = {}
    urls: dict[str, dict[int, str]] = {}
    gallery = reverse("gallery")
    for rows in sizes:
        clients[rows] = Client()
        clients[rows].force_login(ensure_person(rows))
    for rows in sizes:
        urls.setdefault("first page", {})[rows] = gallery
        urls.setdefault("model filter", {})[rows] = f"{gallery}?model={MODELS[2]}"
        urls.setdefault("search, no match", {})[rows] = f"{gallery}?q=zebra"
        urls.setdefault("page 40", {})[rows] = page_40_url(clients[rows])
    for rows in sizes:  # warm up: templates, connections, plans
        for by_size in urls.values():
            timed(clients[rows], by_size[rows])
    times, sql, counts = measure(clients, urls, sizes, args.rounds)
    report(urls, sizes, args.rounds, times, sql, counts)


Samples = dict[tuple[str, int], list[float]]


def measure(
    clients: dict[int, Any], urls: dict[str, dict[int, str]], sizes: list[int], rounds: int
) -> tuple[Samples, Samples, dict[tuple[str, int], int]]:
    times: Samples = {}
    sql: Samples = {}
    counts: dict[tuple[str, int], int] = {}
    for _ in range(rounds):
        for view, by_size in urls.items():
            for rows in sizes:
                ms, sql_ms, count = timed(clients[rows], by_size[rows])
                times.setdefault((view, rows), []).append(ms)
                sql.setdefault((view, rows), []).append(sql_ms)
                counts[(view, rows)] = count
    return times, sql, counts


def report(
    urls: dict[str, dict[int, str]],
    sizes: list[int],
    rounds: int,
    times: Samples,
    sql: Samples,
    counts: dict[tuple[str, int], int],
) -> None:
    print(f"\nP3 gallery, {rounds} rounds, server time in-process (template included)")
    for view in urls:
        for rows in sizes:
            label = f"{view} @{rows}"
            print(f"{summary(label, times[(view, rows)])} | {counts[(view, rows)]} queries")
            print(f"{summary('  of which SQL', sql[(view, rows)])}")
        base = quantile(times[(view, BASE_ROWS)], 0.95)
        for rows in sizes[1:]:
            p95 = quantile(times[(view, rows)], 0.95)
            print(f"  p95 ratio {rows} / {BASE_ROWS} rows: {p95 / base:.2f}x")


if __name__ == "__main__":
    main()
