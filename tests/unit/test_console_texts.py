"""The console's texts (agent/desktop/static/texts.json): French and English have the same keys,
and every text the page uses exists in both."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

from agent.audit import REASONS_FR
from agent.cli.admin import ACTIONS_FR, RESULTS_FR
from agent.consent import Action
from agent.desktop.runtime import STATES
from agent.kinds.registry import KINDS

STATIC = Path(__file__).resolve().parents[2] / "agent" / "desktop" / "static"
TEXTS = json.loads((STATIC / "texts.json").read_text(encoding="utf-8"))


def test_french_and_english_have_the_same_keys_and_no_empty_text() -> None:
    assert set(TEXTS) == {"fr", "en"}
    assert set(TEXTS["fr"]) == set(TEXTS["en"]), set(TEXTS["fr"]) ^ set(TEXTS["en"])
    for locale, texts in TEXTS.items():
        assert all(isinstance(v, str) and v.strip() for v in texts.values()), locale
        for key, text in texts.items():  # the same {fields} in both languages
            other = TEXTS["en" if locale == "fr" else "fr"][key]
            assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", other)), key


def test_every_text_the_page_uses_exists() -> None:
    html = (STATIC / "console.html").read_text(encoding="utf-8")
    script = (STATIC / "console.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n="([^"]+)"', html))
    used |= set(re.findall(r'\bt\("([A-Za-z_.]+)"', script))
    used |= set(re.findall(r'lock\("([A-Za-z_.]+)"\)', script))
    families = {
        "state_": STATES,
        "kind_": KINDS.names(),
        "jobState_": ("queued", "running", "succeeded", "failed", "cancelled", "interrupted"),
        "prompt_": (*typing.get_args(Action), "pick"),
        "answer_": ("gone", "type", "pin_required", "not_found", "empty"),
        "reason_": tuple(REASONS_FR),
        "result_": tuple(RESULTS_FR),
        "action_": tuple(ACTIONS_FR),
        "indication_": ("TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE"),
        "update_": ("disabled", "not_checked", "checking", "up_to_date", "available", "staged", "failed"),
    }
    for prefix, members in families.items():
        assert f"`{prefix}$" in script or f"\"{prefix}\"" in script or f"`{prefix}" in script, prefix
        used |= {prefix + m for m in members}
    missing = used - set(TEXTS["fr"])
    assert not missing, sorted(missing)
    assert len(used) > 100
