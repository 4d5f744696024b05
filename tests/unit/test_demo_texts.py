"""Every text key of the demo pages exists in French and in English, and every page has the
common navigation bar."""

from __future__ import annotations

import re
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "agent" / "demo_platform"
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


def test_every_page_is_served_in_the_shared_frame_with_the_navigation_bar() -> None:
    from aiohttp.test_utils import make_mocked_request

    from agent.demo_platform.app import PAGES, DemoState, STATE_KEY, _render

    files = sorted(p.name for p in STATIC.glob("*.html"))
    assert files == sorted(["layout.html", *(name for name, _, _ in PAGES.values())])
    for path, (name, title, script) in PAGES.items():
        assert "<html" not in (STATIC / name).read_text(encoding="utf-8"), name  # sections only
        request = make_mocked_request("GET", path, app={STATE_KEY: DemoState()})  # type: ignore[arg-type]
        page = _render(request, name, title, script).text or ""
        assert "{{" not in page, (path, page[:200])
        assert f"<title>{title} — Compagnon</title>" in page and f'src="/static/{script}"' in page
        assert f'href="{path}" aria-current="page"' in page and page.count("<nav>") == 1
        assert 'id="agent-state"' in page and page.rstrip().endswith("</html>")
