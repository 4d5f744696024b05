"""Every text key of the demo page exists in French and in English."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "bridge_protocol" / "demo" / "static"


def _keys(block: str) -> set[str]:
    return set(re.findall(r'(?:^|",)\s*(\w+):\s*"', block, re.MULTILINE))


def test_page_keys_exist_in_both_languages() -> None:
    script = (STATIC / "common.js").read_text(encoding="utf-8")
    fr = _keys(script.split("fr: {", 1)[1].split("\n  },", 1)[0])
    en = _keys(script.split("en: {", 1)[1].split("\n  },", 1)[0])
    assert fr == en, fr ^ en
    used: set[str] = set()
    for page in STATIC.glob("*.html"):
        used |= set(re.findall(r'data-i18n="(\w+)"', page.read_text(encoding="utf-8")))
    for code in STATIC.glob("*.js"):
        used |= set(re.findall(r'\bt\("(\w+)"', code.read_text(encoding="utf-8")))
    assert used <= fr, used - fr
