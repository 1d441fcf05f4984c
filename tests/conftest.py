"""For every test: `opmaat serve` and the store commands keep their default SQLite file in a
temporary folder, never in the data directory of whoever runs the tests. Tests marked ``pure``
look inside plain-Python code (a closure's cells, a module's own function replaced): with the
compiled build (opmaat/compiled.py) they are skipped, and scripts/test runs them again with
OPMAAT_PURE=1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opmaat import compiled


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if compiled.build != "compiled":
        return
    skip = pytest.mark.skip(
        reason="looks inside plain Python: scripts/test runs it with OPMAAT_PURE=1"
    )
    for item in items:
        if item.get_closest_marker("pure") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPMAAT_DATA_DIR", str(tmp_path_factory.mktemp("data-dir")))
        yield
