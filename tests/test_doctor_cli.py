"""`cachectl doctor` as a user runs it: the console script in a subprocess, no terminal; exit
statuses for a CI gate, the report at 80 columns, the JSON shape docs/doctor.md documents."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cachectl.ops.doctor import SEVERITIES
from tests.doctor_support import SITUATIONS, seed_everything
from tests.plugins.cli import CliResult
from tests.servers import RedisServer

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "doctor.md"
SICK, WELL = "d-sick", "d-well"


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[RedisServer, set[str]]]:
    """A redis-server of this module's own, set up for a cache, holding a namespace with
    every situation of issue 20 (SICK) and a healthy one (WELL); and SICK's finding ids."""
    with RedisServer() as made, made.client() as client:
        client.config_set("maxmemory", str(1024**3))
        client.config_set("maxmemory-policy", "allkeys-lru")
        expected = seed_everything(client, made.url, SICK)
        SITUATIONS["healthy"][0](client, made.url, WELL)
        yield made, expected


@pytest.fixture
def server(seeded: tuple[RedisServer, set[str]]) -> RedisServer:
    return seeded[0]


@pytest.fixture
def doctor(server: RedisServer, run_script: Callable[..., CliResult]) -> Callable[..., CliResult]:
    def run(ns: str, *args: str, columns: int = 80) -> CliResult:
        base = ["--url", server.url, "--namespace", ns, "doctor"]
        return run_script(*base, *args, env={"COLUMNS": str(columns)})

    return run


def test_fail_on_warning_gates_the_sick_namespace_and_passes_the_healthy_one(
    doctor: Callable[..., CliResult],
) -> None:
    sick = doctor(SICK, "--fail-on", "warning")
    assert sick.exit_code == 1, sick.stderr
    (error,) = sick.stderr.splitlines()
    assert error.startswith("cachectl: error: ") and "or worse (--fail-on warning): " in error
    assert "huge-tag" in error and "big-values" in error
    assert "Warnings (" in sick.stdout  # the report came first, whole
    well = doctor(WELL, "--fail-on", "warning")
    assert (well.exit_code, well.stderr) == (0, "")
    assert well.stdout.rstrip().endswith("No findings.")


@pytest.mark.parametrize(("level", "status"), [("info", 1), ("warning", 1), ("error", 0)], ids=str)
def test_fail_on_counts_that_severity_or_worse(
    doctor: Callable[..., CliResult], level: str, status: int
) -> None:
    # The sick namespace has warnings and information, no error.
    assert doctor(SICK, "--json", "--fail-on", level).exit_code == status


def test_without_fail_on_findings_are_not_a_failure(doctor: Callable[..., CliResult]) -> None:
    assert doctor(SICK).exit_code == 0


def test_json_is_the_documented_shape(
    seeded: tuple[RedisServer, set[str]], doctor: Callable[..., CliResult]
) -> None:
    result = doctor(SICK, "--json", "--fail-on", "warning")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    shape = _documented_shape()
    assert set(document) == set(shape)
    assert set(document["scope"]) == set(shape["scope"])
    assert set(document["counts"]) == set(SEVERITIES)
    assert set(document["servers"][0]) == set(shape["servers"][0])
    assert {f["id"] for f in document["findings"]} == seeded[1]
    for finding in document["findings"]:
        assert set(finding) == set(shape["findings"][0])
        assert finding["severity"] in SEVERITIES
        assert set(finding["subject"]) == {"kind", "name"}
        for figure in finding["evidence"]:
            assert set(figure) == set(shape["findings"][0]["evidence"][0])
            assert figure["unit"] in _documented_units()
        if finding["affected"] is not None:
            assert set(finding["affected"]) == {"kind", "items", "total"}
        if finding["sample"] is not None:
            assert set(finding["sample"]) == {"size", "population", "exact"}
        assert finding["recommendation"]
    ranks = [SEVERITIES.index(f["severity"]) for f in document["findings"]]
    assert ranks == sorted(ranks, reverse=True)  # worst first
    assert sum(document["counts"].values()) == len(document["findings"])


def test_every_finding_is_documented() -> None:
    import cachectl.ops.doctor as package

    text = DOC.read_text()
    produced = set()
    for path in Path(package.__file__).parent.glob("*.py"):
        # A Finding, or one made by entries._finding or settings._on: the id comes first.
        made = r'(?:Finding\(|_finding\(\s*profile,\s*found,|_on\(\s*node,)\s*"([a-z-]+)"'
        produced |= set(re.findall(made, path.read_text()))
    assert len(produced) >= 18
    for finding_id in produced:
        assert f"### `{finding_id}`" in text, finding_id
    documented = set(re.findall(r"^### `([a-z-]+)`", text, re.MULTILINE))
    assert documented == produced


def _documented_shape() -> dict[str, Any]:
    block = DOC.read_text().split("```json\n", 1)[1].split("\n```", 1)[0]
    shape: dict[str, Any] = json.loads(block)
    return shape


def _documented_units() -> set[str]:
    paragraph = DOC.read_text().split("\nUnits:", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"`([a-z_]+)`", paragraph))


def test_the_report_fits_80_columns(doctor: Callable[..., CliResult]) -> None:
    result = doctor(SICK)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) > 40
    assert max(len(line) for line in lines) <= 80
    assert not [line for line in lines if line != line.rstrip()]  # no padding to the right
    for heading in ("Warnings (", "Information ("):
        assert any(line.startswith(heading) for line in lines)
    assert "-> Split tag 'catalog' into narrower tags" in result.stdout.replace("\n", " ")


def test_wide_characters_fit_80_columns(
    server: RedisServer, doctor: Callable[..., CliResult]
) -> None:
    from rich.cells import cell_len

    ns = "d-wide"
    keys = [f"{ns}:{'商品目録' * 12}:{i}".encode() for i in range(3)]
    with server.client() as client:
        for key in keys:
            client.set(key, b"not ours", ex=600)
    try:
        result = doctor(ns)
    finally:
        with server.client() as client:
            client.delete(*keys)
    lines = result.stdout.splitlines()
    assert "undecodable  Prefix" in result.stdout and "'商品目録商品目録" in result.stdout
    assert max(cell_len(line) for line in lines) <= 80
    assert not [line for line in lines if line != line.rstrip()]


def test_hostile_names_stay_on_their_line(
    server: RedisServer, doctor: Callable[..., CliResult]
) -> None:
    ns = "d-hostile"
    prefix = "\x1b[2J\x1b]0;owned\x07" + "p" * 300
    with server.client() as client:
        client.set(f"{ns}:{prefix}:1".encode(), b"\x00\xffnot ours", ex=600)
        client.set(f"{ns}:ok:1".encode() + b"\xff\xfe", b"also not ours", ex=600)
    try:
        result = doctor(ns)
        document = json.loads(doctor(ns, "--json").stdout)
    finally:
        with server.client() as client:
            client.delete(f"{ns}:{prefix}:1".encode(), f"{ns}:ok:1".encode() + b"\xff\xfe")
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b[2J" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    undecodable = [f for f in document["findings"] if f["id"] == "undecodable"]
    keys = [item for f in undecodable for item in f["affected"]["items"]]
    assert {"name": "ok:1\\xff\\xfe", "hex": b"ok:1\xff\xfe".hex()} in keys


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sample", "0"], "invalid value for '--sample'"),
        (["--sample", "1000001"], "is more than the maximum, 1,000,000"),
        (["--fail-on", "fatal"], "invalid value for '--fail-on'"),
        (["--prefix", ""], "--prefix needs a non-empty prefix"),
        (["--prefix", ":"], "--prefix needs a non-empty prefix"),
    ],
)
def test_bad_options_are_usage_errors(
    doctor: Callable[..., CliResult], args: list[str], message: str
) -> None:
    result = doctor(SICK, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("cachectl: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_an_unreachable_server_is_status_3(run_script: Callable[..., CliResult]) -> None:
    from tests.servers import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    result = run_script("--url", url, "--timeout", "0.5", "doctor", "--fail-on", "warning")
    assert result.exit_code == 3 and result.stdout == ""
    assert result.stderr.startswith("cachectl: error: cannot reach")


def test_an_empty_namespace_fails_the_gate_and_names_the_others(
    doctor: Callable[..., CliResult],
) -> None:
    result = doctor("d-typo", "--fail-on", "warning")
    assert result.exit_code == 5  # the gate of stats, keys, inspect and flush
    assert "Nothing under namespace 'd-typo'" in result.stdout
    assert "did you mean --namespace" in result.stderr  # the namespaces the server holds
    allowed = doctor("d-typo", "--fail-on", "warning", "--allow-empty")
    assert allowed.exit_code == 1 and "did you mean" not in allowed.stderr


def test_prefix_and_sample(doctor: Callable[..., CliResult]) -> None:
    result = doctor(SICK, "--prefix", "reports", "--sample", "10", "--json")
    document = json.loads(result.stdout)
    assert document["prefix"] == "reports"
    assert document["scope"]["sample_limit"] == 10
    ids = {f["id"] for f in document["findings"]}
    assert "big-values" in ids and "huge-tag" not in ids and "undecodable" not in ids


def test_help_ends_with_examples(run_script: Callable[..., CliResult]) -> None:
    result = run_script("doctor", "--help", env={"COLUMNS": "80"})
    assert result.exit_code == 0
    options, examples = result.stdout.split("Show this message and exit.")
    assert "Examples:" in examples and "--fail-on" in options
    assert result.stdout.rstrip().endswith(
        "cachectl --namespace shop doctor --fail-on warning --json > diagnosis.json"
    )
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_over_sentinel_the_primary_is_diagnosed(run_script: Callable[..., CliResult]) -> None:
    from tests.servers import SentinelGroup

    with SentinelGroup() as group:
        primary = f"127.0.0.1:{group.primary_port()}"
        with group.node(group.primary_port()).client() as client:
            SITUATIONS["foreign values"][0](client, group.url, "d-s")
        result = run_script("--url", group.url, "--namespace", "d-s", "doctor", "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert [server["node"] for server in document["servers"]] == [primary]
    found = {(f["id"], f["subject"]["name"]) for f in document["findings"]}
    assert found == {("undecodable", "legacy"), ("maxmemory-unset", primary)}


def test_on_the_cluster_every_primary_is_examined(
    cluster_url: str, redis_cluster: Any, run_script: Callable[..., CliResult]
) -> None:
    client = redis_cluster.client()
    try:
        SITUATIONS["2 MB value"][0](client, cluster_url, "d-c")
    finally:
        client.close()
    args = ("--url", cluster_url, "--namespace", "d-c", "doctor")
    result = run_script(*args, "--json", "--fail-on", "warning")
    assert result.exit_code == 1, result.stderr
    document = result.json()
    nodes = {f"127.0.0.1:{port}" for port in redis_cluster.ports}
    assert document["cluster"] is True and document["scope"]["primaries"] == 3
    assert {server["node"] for server in document["servers"]} == nodes
    assert {f["id"] for f in document["findings"]} <= {"big-values", "maxmemory-unset"}
    assert any(f["id"] == "big-values" for f in document["findings"])
    text = run_script(*args, env={"COLUMNS": "80"})
    assert text.exit_code == 0 and "on 3 primaries" in text.stdout.replace("\n", " ")
