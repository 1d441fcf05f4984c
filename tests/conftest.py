"""For every test: `opmaat serve` and the store commands keep their default SQLite file in a
temporary folder, never in the data directory of whoever runs the tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPMAAT_DATA_DIR", str(tmp_path_factory.mktemp("data-dir")))
        yield
