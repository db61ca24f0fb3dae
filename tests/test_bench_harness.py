"""bench harness: --list, a real two-process run of the channel workload (small sizes), row format."""
import json
import subprocess
import sys

import pytest

from bench.harness import ROW_FIELDS, analytic_bound, markdown_table

PY = sys.executable


def test_list_shows_channel():
    out = subprocess.run([PY, "-m", "bench", "--list"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "channel" in out.stdout


def test_analytic_bound():
    assert analytic_bound("none", 10**6, 5) is None
    assert analytic_bound("wan", 100_000_000, 1) == pytest.approx(4.0 + 0.04)
    assert analytic_bound("lan", 0, 1000) == pytest.approx(0.8)


def test_channel_workload_rows(tmp_path):
    js = tmp_path / "rows.json"
    out = subprocess.run(
        [PY, "-m", "bench", "channel", "--profile", "none,lan", "--repeat", "2", "--size-mb", "2", "--rounds", "20", "--json", str(js)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(js.read_text())
    assert [(r["case"], r["profile"]) for r in rows] == [
        ("throughput-2MB", "none"), ("pingpong-20", "none"), ("throughput-2MB", "lan"), ("pingpong-20", "lan")]
    for r in rows:
        assert set(ROW_FIELDS) <= set(r) and r["workload"] == "channel" and r["impl"] == "party" and r["repeat"] == 2
        assert r["time_s_min"] <= r["time_s_median"] <= r["time_s_max"]
    t_none, p_none, t_lan, p_lan = rows
    assert (t_none["bytes_c2s"], t_none["bytes_s2c"], t_none["rounds"], t_none["msgs"]) == (2_000_000, 8, 1, 2)
    assert (p_lan["bytes_c2s"], p_lan["bytes_s2c"], p_lan["rounds"], p_lan["msgs"]) == (160, 160, 20, 40)
    assert t_none["MB_per_s"] > 0 and p_none["ms_per_round"] > 0 and t_none["bound_s"] is None
    assert p_lan["bound_s"] == pytest.approx(20 * 0.8e-3 + 320 * 8 / 3e9)
    assert p_lan["time_s_min"] >= 0.99 * p_lan["bound_s"]  # shaping never beats the link
    assert "| party | throughput-2MB | none |" in out.stdout


def test_markdown_table_has_extra_columns():
    rows = [{f: 1 for f in ROW_FIELDS} | {"case": "c", "MB_per_s": 5.0}]
    t = markdown_table(rows)
    assert "MB_per_s" in t.splitlines()[0] and "| 5 |" in t


def test_ratio_rows_side_by_side():
    """Each other impl's row against ours for the same case and profile: their figure / ours,
    on the kernel's bytes per element when both rows have it, else on the session totals."""
    from bench.harness import ratio_rows, ratio_table

    rows = [
        {"impl": "party", "case": "softmax", "profile": "lan", "time_s_median": 2.0, "bytes_per_elem": 200.0,
         "bytes_c2s": 10, "bytes_s2c": 10},
        {"impl": "bumblebee-approx", "case": "softmax", "profile": "lan", "time_s_median": 4.0,
         "bytes_per_elem": 650.0, "bytes_c2s": 30, "bytes_s2c": 35},
        {"impl": "spu-cheetah", "case": "softmax", "profile": "lan", "time_s_median": 60.0, "bytes_c2s": 300,
         "bytes_s2c": 500},
        {"impl": "spu-cheetah", "case": "gelu", "profile": "lan", "time_s_median": 30.0},  # no row of ours
    ]
    rows[0]["times_s"], rows[1]["times_s"] = [2.0, 1.0, 4.0], [5.0, 4.0, 4.0]  # interleaved pairs
    rr = ratio_rows(rows)
    assert [(r["vs"], r["time_ratio"], r["traffic"], r["traffic_ratio"]) for r in rr] == [
        ("bumblebee-approx", 2.0, "B/elt", 3.25), ("spu-cheetah", 30.0, "session B", 40.0)]
    # run by run: 2.5, 4.0, 1.0 → median 2.5; the peer row has no runs to pair
    assert rr[0]["time_ratio_paired"] == 2.5 and rr[0]["paired_range"] == "1–4"
    assert rr[1]["time_ratio_paired"] is None
    assert "| softmax | lan | spu-cheetah |" in ratio_table(rows)
    assert ratio_table(rows[:1]) == ""
