"""The integration guide (docs/INTEGRATION.md) points at files that exist, and shows the calls its
minimal page really makes (the page itself runs in tests/browser/test_minimal_page.py)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "INTEGRATION.md"
PAGE = ROOT / "docs" / "kit" / "minimal-page.html"


def test_every_relative_link_of_the_guide_exists() -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", GUIDE.read_text(encoding="utf-8"))
    relative = [link for link in links if "://" not in link]
    assert len(relative) >= 8
    for link in relative:
        assert (GUIDE.parent / link).resolve().exists(), link


def test_the_guide_shows_the_calls_of_its_minimal_page() -> None:
    guide, page = GUIDE.read_text(encoding="utf-8"), PAGE.read_text(encoding="utf-8")
    calls = set(re.findall(r'(?:call|runJob)\("([\w.]+)"', page))
    assert calls == {"certificates.list", "files.put", "files.get", "sign", "verify"}
    for name in calls:
        assert f'"{name}"' in guide, name
    for step in ("client.connect()", "client.pair(", "readCode"):
        assert step in guide and step.split("(")[0].replace("client.", "") in page
