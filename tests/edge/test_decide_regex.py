from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from opmaat_edge.cli import main
from tests.edge.conftest import MakeClient

GOOGLE = "https://www.google.com/search?q="
CAMPAIGNS = """\
slots:
  hero: {default: plain}
campaigns:
  - id: words
    slot: hero
    audience: {referrer.term: {$regex: '%s'}}
    variants: [{key: a, html: words only}]
"""


def campaign_file(folder: Path, pattern: str) -> Path:
    path = folder / "campaigns.yaml"
    path.write_text(CAMPAIGNS % pattern, encoding="utf-8")
    return path


def test_a_search_term_crafted_against_the_pattern_is_answered_at_once(
    tmp_path: Path, make_client: MakeClient
) -> None:
    client = make_client(campaign_file(tmp_path, r"^(\w+\s?)+$"), demo=False)

    def hero(term: str) -> object:
        client.cookies.clear()  # a new visitor: a session keeps the referrer it arrived with
        body = {"slots": ["hero"], "url": "http://127.0.0.1/", "referrer": GOOGLE + term}
        r = client.post("/v1/decide", content=json.dumps(body))
        assert r.status_code == 200, r.text
        return r.json()["slots"]["hero"]["campaign"]

    assert hero("trail+running+shoes") == "words"
    # Python's `re` spent about two seconds on the first term; the longest one a search
    # engine's referrer can carry (200 characters) it would never have finished.
    for term in ("a" * 24 + "%21", "a" * 199 + "%21"):
        started = time.perf_counter()
        assert hero(term) is None
        assert time.perf_counter() - started < 0.25


@pytest.mark.parametrize(
    ("pattern", "said"),
    [
        ("(?=.*shoes)trail", "needs backtracking (a lookahead, '(?=')"),
        (r"(\w+) \1", "needs backtracking (a backreference, '\\\\1')"),
    ],
)
def test_check_refuses_what_needs_backtracking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str, said: str
) -> None:
    path = campaign_file(tmp_path, pattern)
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:6: campaigns[0].audience.referrer.term.$regex: regex {pattern!r} {said}" in out
