"""bench/http.py: wrk's output is read right, and a short run measures real decisions."""

from __future__ import annotations

import shutil
import socket
from typing import Any

import pytest
from bench import http

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:8000/v1/decide
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    21.15ms   12.10ms 177.84ms   90.11%
    Req/Sec   760.52     80.12     1.01k    70.00%
  Latency Distribution
     50%  850.00us
     75%   22.31ms
     90%   30.02ms
     99%    1.20s
  15210 requests in 10.05s, 12.34MB read
  Socket errors: connect 0, read 3, write 1, timeout 7
  Non-2xx or 3xx responses: 12
Requests/sec:   1513.43
Transfer/sec:      1.23MB
"""


def test_wrk_output_is_read_with_its_units() -> None:
    run = http.parse_wrk(WRK_OUTPUT)
    assert run.rps == 1513.43
    assert run.p50_ms == pytest.approx(0.85)
    assert run.p99_ms == pytest.approx(1200.0)
    assert run.requests == 15210
    assert run.non_2xx == 12
    assert run.socket_errors == {"connect": 0, "read": 3, "write": 1, "timeout": 7}


def test_a_clean_wrk_output_has_no_errors() -> None:
    clean = "\n".join(
        line for line in WRK_OUTPUT.splitlines() if "errors" not in line and "Non-2xx" not in line
    )
    run = http.parse_wrk(clean)
    assert run.non_2xx == 0
    assert set(run.socket_errors.values()) == {0}


def test_output_without_latency_distribution_is_refused() -> None:
    without = "\n".join(line for line in WRK_OUTPUT.splitlines() if "%" not in line)
    with pytest.raises(ValueError, match="50% latency"):
        http.parse_wrk(without)


def test_the_script_quotes_header_names_as_lua_keys() -> None:
    script = http.wrk_script("POST", "/v1/decide", '{"a": "]"}', [("opmaat=x.y", "192.0.2.1")])
    # "[[" would open a Lua long string and turn the key into "==[Accept]==".
    assert "[ [==[Accept]==] ] = [==[*/*]==]," in script
    assert '{"a": "]"}' in script
    assert "{[==[opmaat=x.y]==], [==[192.0.2.1]==]}," in script


def test_visitors_come_from_every_demo_geo_network() -> None:
    assert [http.forwarded_for(i) for i in range(5)] == [
        "203.0.113.1",
        "198.51.100.1",
        "192.0.2.1",
        "2001:db8:1::1",
        "203.0.113.2",
    ]
    # IPv6 visitors each in their own /64: the edge's limits count a /64 as one address.
    sixes = {http.forwarded_for(i).rsplit(":", 2)[0] for i in range(3, 4000, 4)}
    assert len(sixes) == 250


def _refused(address: str) -> bool:
    host, port = address.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.2):
            return False
    except OSError:
        return True


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_a_short_run_measures_decisions_and_stops_every_server() -> None:
    workers = (1, 2) if shutil.which("redis-server") else (1,)
    result = http.run(
        duration=1, connections=4, threads=1, workers=workers, rounds=1, warmup=1, visitors=20
    )
    configs: dict[str, Any] = result["configs"]
    expected = {"bare/1", "edge/1", "edge/1 asyncio+h11", "memory/1", "sqlite/1", "sqlite/2"} | {
        f"{kind}/2" for kind in ("bare", "edge") if 2 in workers
    }
    assert set(configs) == expected
    assert configs["sqlite/2"]["store"] == "sqlite://"
    assert "--workers 2" in configs["sqlite/2"]["server"]
    assert result["sqlite"]["ratio"] > 0
    assert "sqlite/2 over memory/1" in http.table(result)
    for name, config in configs.items():
        assert config["rps"] > 0, name
        assert 0 < config["p50_ms"] <= config["p99_ms"], name
        assert config["non_2xx"] == 0, name  # the edge answered the script's requests with 200
        assert set(config["socket_errors"].values()) == {0}, name
        assert config["wrk"].startswith("wrk -t1 -c4 -d1s --latency -s "), name
        assert config["log_problems"] == [], name
        if name.startswith("edge"):
            assert config["campaigns_loaded"] > 200, name  # the demo's and the 200 generated
            assert config["filled_share"] > 0, name  # decisions rendered campaigns
            # The cookies were taken: the first visitor's session counted wrk's page views.
            assert config["pageviews_after"] > 1, name
    assert "--workers 1" in configs["edge/1"]["server"]
    assert "--loop asyncio --http h11" in configs["edge/1 asyncio+h11"]["server"]
    assert set(result["ratios"]) == {str(n) for n in workers}
    assert "asyncio+h11" in result["loop_http"]
    assert "edge/bare, 1 worker(s)" in http.table(result)
    for name, config in configs.items():  # every server was stopped, redis too
        assert _refused(config["url"]), name
        if config["store"] and config["store"].startswith("redis://"):
            assert _refused(config["store"].removeprefix("redis://").removesuffix("/0")), name
