"""docs/configuration.md lists exactly the settings the code reads: it cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from opmaat.campaigns.sections import SITE_KEYS

ROOT = Path(__file__).parent.parent
DOC = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


def documented(section: str) -> set[str]:
    """First-column names of the table under the heading that starts with ``section``."""
    part = DOC.split(f"\n## {section}", 1)[1].split("\n## ", 1)[0]
    part = part.split("\n### ", 1)[0] if section == "Environment" else part
    return set(re.findall(r"^\| `([A-Za-z_]+)` \|", part, re.MULTILINE))


def test_every_environment_variable_is_documented() -> None:
    in_code = set()
    for path in [*ROOT.glob("edge/opmaat_edge/*.py"), *ROOT.glob("sdk/opmaat/**/*.py")]:
        in_code |= set(re.findall(r'"(OPMAAT_[A-Z_]+)"', path.read_text(encoding="utf-8")))
    assert in_code
    assert documented("Environment") == in_code


def test_every_site_setting_is_documented() -> None:
    assert documented("Site settings") == set(SITE_KEYS)


def test_every_store_url_option_is_documented() -> None:
    in_code = set()
    for store in ("redis_store.py", "sqlite_store.py"):
        code = (ROOT / "sdk" / "opmaat" / store).read_text(encoding="utf-8")
        in_code |= set(re.findall(r'query\.pop\("([a-z_]+)"', code))
    assert in_code
    part = DOC.split("### Store URL options", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"^\| `([a-z_]+)` \|", part, re.MULTILINE)) == in_code
