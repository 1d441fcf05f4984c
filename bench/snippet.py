"""Benchmark: the snippet's size as served (raw, gzip -9, brotli -q 11), against its budget."""

from __future__ import annotations

import brotli  # type: ignore[import-untyped]

from opmaat_edge.snippet import GZIP_BUDGET, Snippet


def run() -> dict[str, int]:
    """Bytes of the minified snippet: raw, gzip -9 (as the edge serves it), brotli quality 11,
    and the gzip budget."""
    snippet = Snippet.load()
    return {
        "raw": len(snippet.raw),
        "gzip": len(snippet.gzipped),
        "brotli": len(brotli.compress(snippet.raw, quality=11)),
        "budget": GZIP_BUDGET,
    }


if __name__ == "__main__":
    sizes = run()
    print(
        f"snippet as served: {sizes['raw']} bytes raw, "
        f"{sizes['gzip']} bytes gzip -9 (budget {sizes['budget']})"
    )
    print(f"snippet, brotli -q 11: {sizes['brotli']} bytes")
