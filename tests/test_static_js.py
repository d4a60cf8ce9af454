"""The pages' own scripts put text into the page as text: no HTML strings reach the DOM."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(ROOT.glob("*/static/**/*.js"))
# Leaflet renders a string given to these as HTML; a node made by WelfareMap.text stays text.
_CONTENT_SETTERS = r"bindTooltip|bindPopup|setTooltipContent|setPopupContent|setContent"
FORBIDDEN = {
    "assigns innerHTML/outerHTML": re.compile(r"\.(?:inner|outer)HTML\s*\+?=(?!=)"),
    "inserts HTML": re.compile(r"insertAdjacentHTML|document\.write|createContextualFragment"),
    "gives Leaflet a string": re.compile(
        rf"\.(?:{_CONTENT_SETTERS})\(\s*(?!(?:WelfareMap\.)?text\()"
    ),
    "gives a divIcon an HTML string": re.compile(r"\bhtml:\s*(?:[\"'`]|[^,}\n]*\+)"),
}


def problems(source: str) -> list[str]:
    """What a script does that could turn text into markup."""
    return [name for name, pattern in FORBIDDEN.items() if pattern.search(source)]


@pytest.mark.parametrize(
    "bad",
    [
        'holder.innerHTML = "<b>" + name + "</b>";',
        "cell.outerHTML += label;",
        'list.insertAdjacentHTML("beforeend", row);',
        "marker.bindTooltip(stop.label);",
        'layer.bindPopup("<p>" + address + "</p>");',
        "layer.bindTooltip(label || '');",
        "tooltip.setContent(name);",
        'L.divIcon({ html: "<span>" + n + "</span>" });',
    ],
)
def test_the_check_catches_html_sinks(bad):
    assert problems(bad)


def test_no_script_under_static_puts_html_strings_into_the_page():
    assert len(SCRIPTS) >= 3  # routing/static: map.js, plan.js, districts.js at least
    found = {
        str(path.relative_to(ROOT)): problems(path.read_text(encoding="utf-8")) for path in SCRIPTS
    }
    assert {path: names for path, names in found.items() if names} == {}
    assert not problems("marker.bindTooltip(WelfareMap.text(stop.label)); if (a == b) {}")
