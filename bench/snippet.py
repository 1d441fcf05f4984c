"""Benchmark: the snippet's size as served, against its budget."""

from __future__ import annotations

import gzip

from opmaat_edge.snippet import GZIP_BUDGET, Snippet

if __name__ == "__main__":
    served = Snippet.load().raw
    print(
        f"snippet as served: {len(served)} bytes raw, "
        f"{len(gzip.compress(served, compresslevel=9))} bytes gzip -9 (budget {GZIP_BUDGET})"
    )
