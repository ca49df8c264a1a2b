"""OpenAI's moderation endpoint, `POST /v1/moderations`, as a simulated upstream.

An input carrying the directive `[sim:flag=CATEGORY]` (e.g. `[sim:flag=violence]`)
is flagged in that category; anything else is not. Faults apply as to any format
(`server_error` on `/v1/moderations` makes it "down").
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from simulator.core import Format, Response, Route, SimRequest, json_response, openai_error, route

_FLAG = re.compile(r"\[sim:flag=([a-z/_-]+)\]")
CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


class ModerationFormat(Format):
    name = "moderation"

    def routes(self) -> list[Route]:
        return [route("POST", r"/v1/moderations", self.moderate)]

    def error(
        self, req: SimRequest, status: int, message: str, *, code: str, type: str = ""
    ) -> Response:
        return openai_error(status, message, code=code, type=type or "server_error")

    def prompt_of(self, req: SimRequest) -> str | None:
        return None  # a `[sim:...]` directive here is a flag, not a fault

    def moderate(self, req: SimRequest) -> Response:
        body = req.json if isinstance(req.json, dict) else {}
        raw = body.get("input")
        inputs = raw if isinstance(raw, list) else [raw]
        if not inputs or not all(isinstance(i, str) for i in inputs):
            return self.error(
                req, 400, "'input' must be a string or a list of strings.", code="invalid_value"
            )
        return json_response(
            200,
            {
                "id": f"modr-{uuid.uuid4().hex[:12]}",
                "model": str(body.get("model") or "omni-moderation-latest"),
                "results": [_result(str(text)) for text in inputs],
            },
        )


def _result(text: str) -> dict[str, Any]:
    flags = set(_FLAG.findall(text))
    return {
        "flagged": bool(flags),
        "categories": {c: c in flags for c in (*CATEGORIES, *sorted(flags - set(CATEGORIES)))},
        "category_scores": {c: (0.99 if c in flags else 0.001) for c in CATEGORIES},
    }
