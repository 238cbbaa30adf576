"""Endpoint files -> targets: formats, ranges, headers from the environment, and their errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from cachectl.errors import ConfigError
from cachectl.warm import Target, WarmOptions, load_targets
from cachectl.warm.formats import detect_format
from cachectl.warm.ranges import MAX_EXPANSION, expand_ranges

BASE = "http://api.test"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, **options: object) -> list[Target]:
    return load_targets([path], WarmOptions(base_url=BASE, **options))  # type: ignore[arg-type]


def urls(targets: list[Target]) -> list[str]:
    return [t.url for t in targets]


# --- ranges -----------------------------------------------------------------------------------


def test_a_range_expands_in_order() -> None:
    assert list(expand_ranges("/p?page={1..3}")) == ["/p?page=1", "/p?page=2", "/p?page=3"]


def test_several_ranges_in_one_line_multiply_first_outermost() -> None:
    assert list(expand_ranges("/s/{1..2}/p/{1..3}")) == [
        "/s/1/p/1",
        "/s/1/p/2",
        "/s/1/p/3",
        "/s/2/p/1",
        "/s/2/p/2",
        "/s/2/p/3",
    ]


def test_padded_descending_and_stepped_ranges() -> None:
    assert list(expand_ranges("/{08..11}")) == ["/08", "/09", "/10", "/11"]
    assert list(expand_ranges("/{3..1}")) == ["/3", "/2", "/1"]
    assert list(expand_ranges("/{0..10..5}")) == ["/0", "/5", "/10"]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("/p/{1..x}", "malformed range at '{1..x}'"),
        ("/p/{1,2}", "malformed range"),
        ("/p/1..2}", "malformed range at '}'"),
        ("/p/{1..2", "malformed range"),
        ("/p/{1..5..0}", "step of 0"),
        (f"/p/{{1..{MAX_EXPANSION + 1}}}", "at most"),
        ("/a/{1..1000}/b/{1..1000}", "at most"),
    ],
)
def test_malformed_ranges_are_errors(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("?", r"\?")):
        list(expand_ranges(template))


# --- plain text -------------------------------------------------------------------------------


def test_plain_text_paths_methods_comments_and_absolute_urls(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "urls.txt",
        "# the product pages\n"
        "\n"
        "/api/v1/inventory/products?page={1..3}\n"
        "  HEAD /health   # cheap\n"
        "post /search\n"
        "https://cdn.test/logo.png\n"
        "/docs#intro\n",
    )
    targets = load(path)
    assert [(t.method, t.url, t.source) for t in targets] == [
        ("GET", f"{BASE}/api/v1/inventory/products?page=1", f"{path}:3"),
        ("GET", f"{BASE}/api/v1/inventory/products?page=2", f"{path}:3"),
        ("GET", f"{BASE}/api/v1/inventory/products?page=3", f"{path}:3"),
        ("HEAD", f"{BASE}/health", f"{path}:4"),
        ("POST", f"{BASE}/search", f"{path}:5"),
        ("GET", "https://cdn.test/logo.png", f"{path}:6"),
        ("GET", f"{BASE}/docs#intro", f"{path}:7"),
    ]


def test_base_url_with_a_path_prefix_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "urls.txt", "/items\n")
    targets = load_targets([path], WarmOptions(base_url="http://h.test/shop/"))
    assert urls(targets) == ["http://h.test/shop/items"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("FETCH /x", "unknown method 'FETCH'"),
        ("GET", "GET needs a path or URL after it"),
        ("GET /a /b", "expected '[METHOD] PATH' but found 3 words"),
        ("api/items", "expected a path starting with '/' or an http(s):// URL, not 'api/items'"),
        ("ftp://files.test/x", "expected a path starting with '/'"),
        ("//evil.test/x", "expected a path starting with '/'"),
        ("/p?page={1..}", "malformed range"),
    ],
)
def test_a_malformed_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "urls.txt", f"/ok\n# comment\n{line}\n/also-ok\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:3: ")
    assert message in text
    assert "\n" not in text


def test_a_relative_path_without_base_url_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "urls.txt", "https://a.test/x\n/relative\n")
    with pytest.raises(ConfigError, match=r"urls\.txt:2: '/relative' is a path, so --base-url"):
        load_targets([path], WarmOptions())
    assert urls(load_targets([write(tmp_path, "abs.txt", "https://a.test/x\n")], WarmOptions()))


def test_file_problems_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.txt: no such file"):
        load(tmp_path / "nope.txt")
    with pytest.raises(ConfigError, match="is a directory"):
        load(tmp_path)
    with pytest.raises(ConfigError, match=r"latin\.txt:2: not UTF-8 text"):
        load(write(tmp_path, "latin.txt", b"/ok\n/caf\xe9\n"))
    with pytest.raises(ConfigError, match=r"no endpoints in .*empty\.txt"):
        load(write(tmp_path, "empty.txt", "# nothing yet\n\n"))
    with pytest.raises(ConfigError, match="no endpoint files given"):
        load_targets([], WarmOptions(base_url=BASE))


def test_a_bom_is_ignored(tmp_path: Path) -> None:
    assert urls(load(write(tmp_path, "bom.txt", "\ufeff/x\n"))) == [f"{BASE}/x"]


# --- sitemap ----------------------------------------------------------------------------------

SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://shop.test/</loc><lastmod>2024-01-01</lastmod></url>
  <url>
    <loc>
      https://shop.test/products?id=1&amp;lang=en
    </loc>
  </url>
</urlset>
"""


def test_a_sitemap_is_detected_by_content(tmp_path: Path) -> None:
    path = write(tmp_path, "pages.txt", SITEMAP)
    targets = load(path)
    assert [(t.method, t.url, t.source) for t in targets] == [
        ("GET", "https://shop.test/", f"{path}:3"),
        ("GET", "https://shop.test/products?id=1&lang=en", f"{path}:5"),
    ]


def test_a_sitemap_index_is_a_clear_error(tmp_path: Path) -> None:
    index = (
        '<?xml version="1.0"?>\n<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<sitemap><loc>https://shop.test/s1.xml</loc></sitemap></sitemapindex>"
    )
    with pytest.raises(ConfigError, match=r"index\.xml:2: this is a sitemap index"):
        load(write(tmp_path, "index.xml", index))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<urlset>\n<url><loc>https://a.test/</loc>\n</urlset>", r"s\.xml:3: malformed XML"),
        ("<urlset>\n<url><loc>/relative</loc></url></urlset>", r"s\.xml:2: a sitemap <loc> must"),
        ("<urlset>\n<url><loc> </loc></url></urlset>", r"s\.xml:2: empty <loc>"),
        ("<html><body/></html>", r"s\.xml:1: expected a sitemap <urlset>, found <html>"),
    ],
)
def test_sitemap_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(write(tmp_path, "s.xml", text))


# --- JSON targets -----------------------------------------------------------------------------


def test_json_targets_vegeta_style(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "t0k3n")
    lines = [
        {"method": "GET", "url": "https://a.test/x"},
        {
            "method": "POST",
            "url": "/search",
            "header": {
                "Content-Type": ["application/json"],
                "Authorization": "Bearer ${API_TOKEN}",
            },
            "body": base64.b64encode(b'{"q": "chairs"}').decode(),
        },
        {"url": "/plain", "headers": {"X-Multi": ["1", "2"]}},
    ]
    path = write(tmp_path, "targets.txt", "\n".join(json.dumps(line) for line in lines) + "\n\n")
    first, second, third = load(path)
    assert (first.method, first.url, first.body, first.headers) == (
        "GET",
        "https://a.test/x",
        None,
        (),
    )
    assert (second.method, second.url, second.source) == ("POST", f"{BASE}/search", f"{path}:2")
    assert second.body == b'{"q": "chairs"}'
    assert second.headers == (
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer t0k3n"),
    )
    assert third.method == "GET"
    assert third.headers == (("X-Multi", "1"), ("X-Multi", "2"))
    assert "t0k3n" not in repr(second)


def test_json_targets_detected_by_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "t.jsonl", '\n{"url": "/x"}\n')
    assert detect_format(str(path), path.read_text()) == "json"
    assert urls(load(path)) == [f"{BASE}/x"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"url": "/x", "body": "not base64!"}', "'body' is not valid base64"),
        ('{"url": "/x", "timeout": 3}', "unknown key(s) 'timeout'"),
        ('{"url": 3}', "'url' must be a non-empty string"),
        ('{"url": "/x", "method": "BREW"}', "'method' must be one of"),
        (
            '{"url": "/x", "header": {"Bad Name": "v"}}',
            "not a valid header name: ' ' at position 4",
        ),
        ('{"url": "/x", "header": {"X": ["a\\r\\nInjected: 1"]}}', "contains a line break"),
        ('{"url": "/x"', "invalid JSON"),
        ('["/x"]', "expected one JSON object per line"),
        ('{"url": "/x", "header": {"A": "${NOT_SET_ANYWHERE}"}}', "NOT_SET_ANYWHERE"),
    ],
)
def test_json_target_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "t.jsonl", '{"url": "/fine"}\n' + line + "\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}:2: ")
    assert message in str(caught.value)


# --- headers, variants ------------------------------------------------------------------------


def test_an_unset_environment_variable_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WARM_TEST_TOKEN", raising=False)
    path = write(
        tmp_path, "t.jsonl", '{"url": "/x", "header": {"Authorization": "${WARM_TEST_TOKEN}"}}\n'
    )
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value) == (
        f"{path}:1: header 'Authorization' needs environment variable WARM_TEST_TOKEN, "
        "which is not set"
    )


def test_variants_multiply_targets(tmp_path: Path) -> None:
    path = write(tmp_path, "urls.txt", "/a\n/b\n")
    targets = load(path, variants=("Accept-Language: en, de", "Accept-Encoding: gzip,br"))
    assert len(targets) == 8
    assert [t.variant for t in targets[:4]] == [
        (("Accept-Language", "en"), ("Accept-Encoding", "gzip")),
        (("Accept-Language", "en"), ("Accept-Encoding", "br")),
        (("Accept-Language", "de"), ("Accept-Encoding", "gzip")),
        (("Accept-Language", "de"), ("Accept-Encoding", "br")),
    ]
    assert {t.url for t in targets[:4]} == {f"{BASE}/a"}
    assert targets[3].label == f"GET {BASE}/a [Accept-Language=de, Accept-Encoding=br]"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"variants": ("Accept-Language",)}, "--variant #1: expected 'Name: value'"),
        ({"variants": ("Accept-Language: en,,de",)}, "non-empty values"),
        ({"variants": ("Accept-Language: en,en",)}, "lists a value twice"),
        ({"variants": ("Accept-Language: fr,français",)}, "is not ASCII"),
        (
            {"variants": ("X-A: 1,2",), "headers": ("x-a: 3",)},
            "--variant #1: header 'X-A' is given more than once",
        ),
    ],
)
def test_variant_errors(tmp_path: Path, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(write(tmp_path, "urls.txt", "/a\n"), **options)


def test_the_whole_list_is_checked_before_anything_else(tmp_path: Path) -> None:
    good = write(tmp_path, "good.txt", "/a\n" * 50)
    bad = write(tmp_path, "bad.txt", "/b\n/c\nWAT /d\n")
    with pytest.raises(ConfigError, match=r"bad\.txt:3: unknown method 'WAT'"):
        load_targets([good, bad], WarmOptions(base_url=BASE))


def test_an_expanded_value_is_checked_without_being_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARM_TEST_FORGED", "token\r\nX-Admin: yes")
    path = write(
        tmp_path, "t.jsonl", '{"url": "/x", "header": {"Authorization": "${WARM_TEST_FORGED}"}}\n'
    )
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert (
        str(caught.value) == f"{path}:1: the value of header 'Authorization' contains a line break"
    )
