"""Every text key of the demo pages exists in French and in English, and every page has the
common navigation bar."""

from __future__ import annotations

import re
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "bridge_protocol" / "demo"
STATIC = DEMO / "static"


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
        text = code.read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\("(\w+)"', text))
        used |= set(re.findall(r'\.i18n = "(\w+)"', text))
    # The navigation bar is written by app.py: (path, id, text key, French text).
    used |= set(re.findall(r'\("/\w*", "[\w-]+", "(\w+)"', (DEMO / "app.py").read_text(encoding="utf-8")))
    assert {"navHome", "navSign", "navDepot", "navKeys", "navOpen"} <= used
    assert used <= fr, used - fr


def test_every_page_has_the_navigation_bar() -> None:
    pages = sorted(p.name for p in STATIC.glob("*.html"))
    assert pages == ["cles.html", "depot.html", "index.html", "ouverture.html", "signer.html"]
    for name in pages:
        assert "{{NAV}}" in (STATIC / name).read_text(encoding="utf-8"), name
