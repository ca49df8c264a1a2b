"""Property-based check of the whole /v1 schema (schemathesis) against the live app.

uvicorn serves config.asgi on the test database; schemathesis reads /v1/openapi.json
from it and sends generated requests, valid and not, to every operation, with a real key.
Every answer must be no server error and match the schema: status, content type, body.
Bounded (EXAMPLES per operation, no shrinking) so it costs well under a minute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.api_keys import api_key_issue
from tests.harness import stop
from tests.live import _env, database_url
from tests.live_api import start_api

EXAMPLES = 25
DEV = "black-forest-labs/flux.1-dev"
MODELS = {"/v1/images/edits": "black-forest-labs/flux-kontext-pro/multi"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_every_v1_operation_answers_within_its_schema(
    user: Any, settings: Any, tmp_path: Path
) -> None:
    key = api_key_issue(user=user, name="schema check")[1]
    env = _env(
        {
            "DATABASE_URL": database_url(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            # Jobs are only queued (no worker): published to a broker of the server's own.
            "CELERY_BROKER_URL": "memory://",
            "REDIS_URL": "",
            "DARKROOM_API_RATE_LIMIT": "0",
            "DARKROOM_API_WAIT_CEILING": "2",
        }
    )
    server = start_api(env, tmp_path / "web.log")
    try:
        base = server.url.removesuffix("/v1")
        schema = schemathesis.openapi.from_url(f"{base}/v1/openapi.json")
        # respond-async: a valid request answers 202 with its job instead of waiting for it.
        headers = {"Authorization": f"Bearer {key}", "Prefer": "respond-async"}
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 7
        for operation in operations:
            _check(operation, base, headers)
    finally:
        stop(server.proc)


def _check(operation: Any, base: str, headers: dict[str, str]) -> None:
    # Random text is never a catalog model: half the bodies name a real one, so requests
    # also get past the model to its parameters, the quota and the job.
    @given(case=operation.as_strategy(), real_model=st.booleans())
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any, real_model: bool) -> None:
        if real_model and isinstance(case.body, dict) and "model" in case.body:
            case.body["model"] = MODELS.get(operation.path, DEV)
        case.call_and_validate(base_url=base, headers=headers, checks=CHECKS, timeout=30)

    run()
