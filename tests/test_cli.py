"""The CLI's contract: exit codes, help, and clear errors for bad watchlists."""

from __future__ import annotations

from pathlib import Path

from crawler import __version__
from tests.helpers import run_markwatch


def test_version_and_help(tmp_path: Path) -> None:
    out = run_markwatch(["--version"], cwd=tmp_path)
    assert out.code == 0 and __version__ in out.out
    for command in (["crawl"], ["demo"], ["verify"], ["evidence", "list"], ["evidence", "show"],
                    ["catalog", "rebuild"], ["parse"]):
        assert run_markwatch([*command, "--help"], cwd=tmp_path).code == 0


def test_bad_watchlist_exits_2_naming_file_line_and_field(tmp_path: Path) -> None:
    wl = tmp_path / "wl.yaml"
    wl.write_text("version: 1\nbrands:\n  - name: Lumara\n    terms: [lumara]\n"
                  "    marketplaces: [nosuchmarket]\n", encoding="utf-8")
    out = run_markwatch(["crawl", "-w", str(wl), "--store", f"file://{tmp_path}/s"],
                        cwd=tmp_path)
    assert out.code == 2
    assert f"{wl}:5" in out.err and "marketplaces" in out.err and "nosuchmarket" in out.err
    assert not (tmp_path / "s").exists()  # nothing was crawled or written


def test_a_refused_crawl_still_writes_its_report(tmp_path: Path) -> None:
    """`--report-json` says why nothing was crawled, in the report's usual shape: a scheduler
    (`crawler.schedule.scheduler`) records the reason, not only exit code 2."""
    import json

    wl = tmp_path / "wl.yaml"
    wl.write_text("version: 1\nbrands:\n  - name: Lumara\n    terms: [lumara]\n"
                  "    marketplaces: [ebya]\n", encoding="utf-8")
    out = run_markwatch(["crawl", "-w", str(wl), "--store", f"file://{tmp_path}/s",
                         "--report-json", "r.json"], cwd=tmp_path)
    assert out.code == 2
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["exit_code"] == 2 and report["run_id"] == "" and report["marketplaces"] == []
    (error,) = report["errors"]
    assert f"configuration error: {wl}:5: brands[0].marketplaces[0]: unknown marketplace" in error
    assert report["store"] == f"file://{tmp_path}/s" and report["counts"] == {}
    assert not (tmp_path / "s").exists()
    # a scheduled re-check refused the same way (here: a bad --older-than)
    wl.write_text(wl.read_text(encoding="utf-8").replace("ebya", "demo"), encoding="utf-8")
    out = run_markwatch(["recheck", "-w", str(wl), "--store", f"file://{tmp_path}/s",
                         "--older-than", "soon", "--report-json", "r2.json"], cwd=tmp_path)
    assert out.code == 2, out.err
    report = json.loads((tmp_path / "r2.json").read_text(encoding="utf-8"))
    assert report["exit_code"] == 2
    assert report["errors"] == ["recheck: configuration error: 'soon' is not a duration like "
                                "30m, 6h, 7d or 2w"]


def test_missing_watchlist_exits_2(tmp_path: Path) -> None:
    out = run_markwatch(["crawl", "-w", str(tmp_path / "none.yaml")], cwd=tmp_path)
    assert out.code == 2
    assert "none.yaml" in out.err


def test_a_store_uri_no_store_opens_exits_2(tmp_path: Path) -> None:
    """Reading commands refuse it as `verify` does, rather than answer from the default catalog
    as if the store were empty."""
    for command in (["evidence", "list"], ["runs", "list"], ["takedown", "status"],
                    ["catalog", "rebuild"]):
        out = run_markwatch([*command, "--store", "foo://bar"], cwd=tmp_path)
        assert out.code == 2, (command, out.out, out.err)
        assert "unsupported store URI 'foo://bar'" in out.err
    assert not (tmp_path / "markwatch-data").exists()


def test_verify_needs_ids_or_all(tmp_path: Path) -> None:
    assert run_markwatch(["verify"], cwd=tmp_path).code == 2


def test_verify_of_unknown_capture_fails(tmp_path: Path) -> None:
    out = run_markwatch(["verify", "01M8GYM9YSTFZDETM8EB09YGVG", "--store",
                         f"file://{tmp_path}/s"], cwd=tmp_path)
    assert out.code == 1
    assert "missing" in out.out


def test_parse_prints_json_for_a_saved_page(tmp_path: Path) -> None:
    page = Path(__file__).parent / "pages" / "ebay"
    case = next(p for p in sorted(page.iterdir()) if (p / "case.json").exists()
                and '"search"' in (p / "case.json").read_text())
    out = run_markwatch(["parse", "--marketplace", "ebay", "--kind", "search",
                         str(case / "page.html.gz")], cwd=tmp_path)
    assert out.code == 0, out.err
    assert '"count"' in out.out
