from __future__ import annotations

import json
import os
from pathlib import Path

from starlette.testclient import TestClient

from tests.edge.conftest import MakeClient

GOOD = """
slots:
  hero: {default: "<p>default</p>"}
campaigns:
  - id: everyone
    slot: hero
    variants:
      - key: a
        html: "<p>{text}</p>"
"""


def write(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    # A later mtime than the last load, whatever the file system's clock resolution.
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + bump))


def hero(client: TestClient) -> str:
    r = client.post("/v1/decide", content=json.dumps({"slots": ["hero"]}))
    html: str = r.json()["slots"]["hero"]["html"]
    return html


def test_changed_file_is_swapped_in_and_bad_file_keeps_the_last_good(
    make_client: MakeClient, tmp_path: Path
) -> None:
    path = tmp_path / "campaigns.yaml"
    write(path, GOOD.replace("{text}", "first"), 0)
    client = make_client(path, demo=False)
    holder = client.app.state.edge.runtime  # type: ignore[attr-defined]
    assert hero(client) == "<p>first</p>"

    write(path, GOOD.replace("{text}", "second"), 10)
    assert holder.reload_if_changed()
    assert hero(client) == "<p>second</p>"

    write(path, GOOD.replace("{text}", "third").replace("slot: hero", "slot: [hero"), 20)
    assert not holder.reload_if_changed()
    assert hero(client) == "<p>second</p>"
    assert holder.reloads_failed == 1
    assert "campaigns.yaml" in holder.last_error
    # The rejected file is not parsed again until it changes.
    assert not holder.reload_if_changed()
    assert holder.reloads_failed == 1
    assert client.get("/healthz").json()["last_reload_error"] == holder.last_error

    path.unlink()
    assert not holder.reload_if_changed()
    assert hero(client) == "<p>second</p>"
