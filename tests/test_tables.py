"""approx.tables: the versioned PiecewisePoly format."""
import json
import math

import numpy as np
import pytest

from approx.tables import FORMAT, PiecewisePoly, load_table, next_version, table_path


def _t(**kw):
    d = dict(function="gelu", breakpoints=[-2.75, 0.5, 2.5], pieces=[[-0.3, -0.2, -0.03], [0.01, 0.5, 0.3], [0.0, 1.0]])
    d.update(kw)
    return PiecewisePoly(**d)


def test_roundtrip(tmp_path):
    t = _t(model="m", calibration={"texts": 3}, errors={"x": 1.0})
    p = t.save(tmp_path / "m" / "gelu.v1.json")
    d = json.loads(p.read_text())
    assert d["format"] == FORMAT and d["fixed"]["13"]["breakpoints"] == [-22528, 4096, 20480]
    assert d["fixed"]["13"]["integer_pieces"] == [False, False, True]
    u = PiecewisePoly.load(p)
    assert u.breakpoints == t.breakpoints and u.pieces == t.pieces and u.calibration == {"texts": 3}
    assert u.digest() == t.digest()
    assert load_table("m", "gelu", root=tmp_path).pieces == t.pieces


def test_minus_inf_breakpoint(tmp_path):
    t = PiecewisePoly("recip", [-math.inf, 2.0], [[1.0, -0.5], [0.5]])
    p = t.save(tmp_path / "r.json")
    assert json.loads(p.read_text())["breakpoints"][0] is None
    u = PiecewisePoly.load(p)
    assert u.breakpoints[0] == -math.inf and u.n_comparisons == 1
    assert u.fixed(13).breakpoints[0] is None
    assert np.allclose(u.evaluate_float([-5.0, 1.0, 3.0]), [3.5, 0.5, 0.5])


def test_tampered_fixed_encoding_rejected(tmp_path):
    d = _t().to_json()
    d["fixed"]["13"]["pieces"][0][0] += 1
    with pytest.raises(ValueError, match="does not match"):
        PiecewisePoly.from_json(d)
    d = _t().to_json()
    d["format"] = "other"
    with pytest.raises(ValueError):
        PiecewisePoly.from_json(d)


@pytest.mark.parametrize("bad", [
    dict(breakpoints=[0.5, -2.75, 2.5]),
    dict(breakpoints=[-1.0, 1.0]),
    dict(breakpoints=[-1.0, -math.inf, 2.0]),
    dict(pieces=[[1.0], [], [0.0, 1.0]]),
    dict(pieces=[[float("nan")], [1.0], [0.0, 1.0]]),
])
def test_validation(bad):
    with pytest.raises(ValueError):
        _t(**bad)


def test_evaluate_float_selection():
    t = _t()
    x = np.array([-3.0, -2.75, 0.4999, 0.5, 2.5, 10.0])
    y = t.evaluate_float(x)
    assert y[0] == 0.0
    assert y[1] == pytest.approx(-0.3 + 0.55 - 0.03 * 2.75 ** 2)
    assert y[3] == pytest.approx(0.01 + 0.25 + 0.075)
    assert y[4] == 2.5 and y[5] == 10.0
    assert t.piece_index(x).tolist() == [-1, 0, 0, 1, 2, 2]


def test_fixed_encoding_rounds():
    F = _t().fixed(13)
    assert F.pieces[1] == (round(0.01 * 8192), 4096, round(0.3 * 8192))
    assert F.int_pieces[2] == (0, 1) and F.int_pieces[0] is None
    assert F.degree == 2


def test_versions(tmp_path):
    assert next_version("m", "exp", tmp_path) == 1
    _t(function="exp").save(tmp_path / "m" / "exp.v1.json")
    _t(function="exp").save(tmp_path / "m" / "exp.v10.json")
    _t(function="exp").save(tmp_path / "m" / "exp.v2.json")
    assert table_path("m", "exp", root=tmp_path).name == "exp.v10.json"
    assert next_version("m", "exp", tmp_path) == 11
    with pytest.raises(FileNotFoundError):
        table_path("m", "gelu", root=tmp_path)


def test_metadata_is_json_safe(tmp_path):
    t = _t(fit={"bps": [-math.inf, 1.0], "v": np.float64(2.5), "n": np.int64(3), "nan": float("nan")})
    u = PiecewisePoly.load(t.save(tmp_path / "t.json"))
    assert u.fit == {"bps": ["-inf", 1.0], "v": 2.5, "n": 3, "nan": None}
