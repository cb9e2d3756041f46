"""README and docs/ link only inside the repository (issue 8, item 17).

A new user reads them in a fresh clone: a link to a sibling directory of the
checkout, or to a page on the web, leads nowhere or somewhere that may change.
Loopback URLs (the demo's own pages) are fine.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from idp.settings import PROJECT_ROOT

# [text](target) and <scheme://...> autolinks.
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)|<([a-z]+://[^>\s]+)>")
LOOPBACK = re.compile(r"^https?://(127\.0\.0\.1|localhost)(:\d+)?(/|$)")
DOCUMENTS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_links_stay_inside_the_repository(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    outside = []
    for match in MARKDOWN_LINK.finditer(text):
        target = match.group(1) or match.group(2)
        if "://" in target or target.startswith("mailto:"):
            if not LOOPBACK.match(target):
                outside.append(target)
            continue
        if target.startswith("#"):
            continue
        resolved = (document.parent / target.split("#", 1)[0]).resolve()
        if not resolved.is_relative_to(PROJECT_ROOT) or not resolved.exists():
            outside.append(target)
    # Plain-text mentions of the shared tree outside the checkout count too.
    outside += re.findall(r"`\.\./[^`]*`", text)
    assert outside == []
