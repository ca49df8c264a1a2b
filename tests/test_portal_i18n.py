"""Every portal string has a zh-hans translation, and the compiled catalogue matches the .po."""

from __future__ import annotations

import re
from pathlib import Path

from django.utils import translation

ROOT = Path(__file__).resolve().parent.parent
# Every page the project renders: the portal, its error pages, reports, API pages, admin parts.
PORTAL_TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
SAME_IN_BOTH = {"API", "Darkroom API"}


def _template_strings() -> set[str]:
    found: set[str] = set()
    for path in PORTAL_TEMPLATES:
        text = path.read_text()
        found |= set(re.findall(r'{%\s*translate\s+"([^"]+)"', text))
        found |= set(re.findall(r"{%\s*translate\s+'([^']+)'", text))
    return found


def test_it_translates_every_portal_template_string_to_chinese() -> None:
    strings = _template_strings()
    assert len(strings) > 150
    with translation.override("zh-hans"):
        untranslated = sorted(
            s for s in strings if translation.gettext(s) == s and s not in SAME_IN_BOTH
        )
    assert untranslated == []


def test_it_leaves_no_empty_or_fuzzy_entry_in_the_po_file() -> None:
    text = PO.read_text()
    entries = text.split("\n\n")[1:]  # the first block is the header
    assert entries
    for entry in entries:
        assert "#, fuzzy" not in entry, entry
        # an empty msgstr is the entry's last line; a long one continues on the next lines
        assert not re.search(r'msgstr(\[\d\])? ""\s*$', entry), entry
