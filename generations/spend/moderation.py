"""The moderation gate: the content policy (blocked terms and patterns, for the
instance and per group) and, optionally, an OpenAI-compatible moderation API, both
judged before any quota, money or upstream call.

Terms match the prompt after normalisation (`normalise`): NFKC, case folded,
combining marks, zero-width and other format characters removed, confusable letters
mapped to their Latin look-alikes, so `n\u200budity`, full-width letters and a
Cyrillic o (U+043E) are all caught. A refusal names the policy, never the term.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from typing import Any

import httpx
from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from common.errors import DarkroomError, ModerationBlocked
from generations.spend.models import ModerationRefusal, PolicyTerm

log = logging.getLogger(__name__)

# Letters from other scripts that look like Latin ones (Unicode's confusables, the
# ones seen in practice); applied after case folding.
CONFUSABLES = str.maketrans(
    "\u0430\u0432\u0435\u0451\u043a\u043c\u043d\u043e\u0440\u0441\u0442\u0443"
    "\u0445\u0456\u0457\u0458\u0455\u0501\u0261\u04bb\u04cf\u03b1\u03b2\u03b5"
    "\u03b7\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4\u03c5\u03c7\u03c9\u0131\u2113",
    "abeekmhopctyxiijsdghlabenikvoptuxwil",
)
API_POLICY = "moderation-api"


class ModerationUnavailable(DarkroomError):
    """The moderation API did not answer and the policy fails closed."""

    status = 503
    type = "server_error"
    code = "moderation_unavailable"
    retryable = True


def normalise(text: str) -> str:
    """The form prompts and terms are compared in."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    kept = "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Me", "Cf", "Cc"))
    return unicodedata.normalize("NFKC", kept).translate(CONFUSABLES)


def pattern_check(term: str) -> None:
    """ValueError if `term` is not a regular expression: saved, it would fail every
    request its policy applies to."""
    try:
        re.compile(term)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from exc


def terms_for(user: Any) -> list[PolicyTerm]:
    groups = list(user.groups.values_list("pk", flat=True)) if user is not None else []
    return list(
        PolicyTerm.objects.filter(Q(group__isnull=True) | Q(group__in=groups)).select_related(
            "group"
        )
    )


def blocking_policy(prompt: str, terms: list[PolicyTerm]) -> str | None:
    """The policy of the first term the prompt matches, else None."""
    text = normalise(prompt)
    for term in terms:
        if term.kind == PolicyTerm.Kind.PATTERN:
            if re.search(term.term, text, flags=re.IGNORECASE):
                return term.policy
            continue
        needle = normalise(term.term)
        if needle and (needle in text or _found_apart(_SEPARATORS.sub("", needle), text)):
            return term.policy
    return None


_SEPARATORS = re.compile(r"[\s\W_]+")
_LETTER = re.compile(r"[^\W_]")


def _found_apart(needle: str, text: str) -> bool:
    """`needle` in `text` with spaces and punctuation inside it ignored ("n.u d-i_t y" is
    still the word), if it starts and ends where words of `text` do: joined across the
    ends of other words, "gore" would refuse "a tango red dress"."""
    if not needle:
        return False  # a term of punctuation only: it would match every prompt
    kept = [i for i, c in enumerate(text) if _LETTER.match(c)]
    squeezed = "".join(text[i] for i in kept)
    start = squeezed.find(needle)
    while start != -1:
        first, last = kept[start], kept[start + len(needle) - 1]
        if _word_edge(text, first - 1, first) and _word_edge(text, last, last + 1):
            return True
        start = squeezed.find(needle, start + 1)
    return False


def _word_edge(text: str, before: int, after: int) -> bool:
    """Whether a word of `text` ends between the characters at `before` and `after`.
    Only scripts that write spaces between words have words longer than a character
    here (their letters have case); in Chinese or Japanese every character is an edge."""
    if before < 0 or after >= len(text):
        return True
    return not (_spaced(text[before]) and _spaced(text[after]))


def _spaced(c: str) -> bool:
    return bool(_LETTER.match(c)) and (c.isdigit() or c.lower() != c.upper())


def moderation_check(*, user: Any, model: str, prompt: str, source: str) -> None:
    """Raise ModerationBlocked (audited, on the review list) if the prompt may not go."""
    policy = blocking_policy(prompt, terms_for(user))
    if policy is None and settings.DARKROOM_MODERATION_URL and prompt:
        policy = _ask_api(prompt)
    if policy is None:
        return
    _record_refusal(user=user, model=model, prompt=prompt, policy=policy, source=source)
    raise ModerationBlocked(_refusal_message(policy), policy=policy)


def _refusal_message(policy: str) -> str:
    if policy == "instance":
        name = _("this instance's content policy")
    elif policy.startswith("group:"):
        name = _("the content policy of the group %(group)s") % {"group": policy[6:]}
    else:
        name = _("the moderation service")
    return _("This prompt was refused by %(policy)s; nothing was charged.") % {"policy": name}


def _ask_api(prompt: str) -> str | None:
    """The moderation API's verdict: a policy name if flagged, None if not; down: the
    fail-open/closed setting decides, logged either way."""
    url = settings.DARKROOM_MODERATION_URL.rstrip("/") + "/moderations"
    try:
        response = httpx.post(
            url,
            json={"model": settings.DARKROOM_MODERATION_MODEL, "input": prompt},
            headers={"Authorization": f"Bearer {settings.DARKROOM_MODERATION_API_KEY}"},
            timeout=settings.DARKROOM_MODERATION_TIMEOUT,
        )
        response.raise_for_status()
        result = response.json()["results"][0]
        flagged = bool(result["flagged"])
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        if settings.DARKROOM_MODERATION_FAIL_OPEN:
            log.warning("moderation API unavailable (%r): failing open, request let through", exc)
            return None
        log.warning("moderation API unavailable (%r): failing closed, request refused", exc)
        raise ModerationUnavailable(
            _("The moderation service is unavailable, so the request was refused; try later.")
        ) from exc
    if not flagged:
        return None
    categories = sorted(k for k, v in (result.get("categories") or {}).items() if v)
    return f"{API_POLICY}:{','.join(categories)}" if categories else API_POLICY


def _record_refusal(*, user: Any, model: str, prompt: str, policy: str, source: str) -> None:
    digest = hashlib.sha256(prompt.encode()).hexdigest()
    ModerationRefusal.objects.create(
        user=user,
        username=user.get_username(),
        model=model,
        policy=policy,
        prompt_sha256=digest,
        source=source,
    )
    audit_record(
        action="moderation refused",
        subject=user.get_username(),
        target_type="person",
        target_id=user.pk,
        user=user,
        model=model,
        detail={"policy": policy, "prompt_sha256": digest, "source": source},
    )
