"""approx.exp_lookup: the lookup exp's float and fixed-point twins, its window's cutoff error on
recorded inputs, and the distribution-aware choice of the window."""
import numpy as np
import pytest

from approx import ExpLookup
from approx.exp_lookup import choose_index_bits
from approx.fixed import decode, encode


def test_float_twin_is_exp_above_the_expected_cutoff():
    t = ExpLookup(grid_frac=0, index_bits=3)
    assert t.lo() == -7 and t.cutoff() == -6.5 and t.lo(top=1) == -6
    x = np.array([0.0, -1.0, -6.49, -6.51, -30.0, 0.125])
    np.testing.assert_allclose(t.evaluate_float(x), np.where(x >= -6.5, np.exp(x), 0.0))


@pytest.mark.parametrize("ell,frac", [(32, 13), (26, 10), (64, 18)])
def test_fixed_twins_close_to_exp(ell, frac, rng):
    t = ExpLookup()
    x = np.r_[rng.uniform(-6, 0.25, 4000), [0.0, -6.0, 0.25]]
    xr = encode(x, ell, frac)
    x = decode(xr, ell, frac)  # the input as the ring holds it
    near = decode(t.evaluate_fixed(xr, ell, frac), ell, frac)
    np.testing.assert_allclose(near, np.exp(x), atol=2.0 ** -(frac + 1) + 1e-12)
    # the secure arithmetic on random splits: the entries' rounding (2^-(ft+1), times the
    # chooser's factor < e), the factor's (2^-(q+1), times e^z < 1.3) and the truncation's unit
    sec = decode(t.evaluate_fixed(xr, ell, frac, "prob", seed=3), ell, frac)
    err = sec - np.exp(x)
    bound = np.e * 2.0 ** -(t.value_frac + 1) + 1.3 * 2.0 ** -(t.corr_frac + 1) + 2.0**-frac
    assert np.abs(err).max() < bound and abs(err.mean()) < bound / 8


def test_cutoff_error_and_window_choice(rng):
    x = np.r_[rng.normal(-4, 3, 20000).clip(max=0), [-40.0]]
    errs = [ExpLookup(index_bits=m).cutoff_error(x) for m in (2, 3, 4, 5)]
    assert all(a["mean"] > b["mean"] for a, b in zip(errs, errs[1:]))  # a wider window cuts less
    assert errs[1]["max"] <= np.exp(-6) + 1e-12  # m = 3 cuts at most below −6
    m = choose_index_bits(x, errs[1]["mean"])
    assert m == 3 and ExpLookup(index_bits=m).cutoff_error(x)["mean"] <= errs[1]["mean"]
    with pytest.raises(ValueError):
        ExpLookup(index_bits=9)


def test_secure_cost_estimate_matches_the_protocol():
    c = ExpLookup().secure_cost()
    assert c["comparisons"] == 1 and c["mul_aa"] == 0 and 500 < c["est_bits"] < 600


def test_calibrated_window_is_saved_and_loaded(tmp_path, rng):
    """``party calibrate``'s exp-lookup step: the window from recorded inputs, a versioned file next
    to the model's tables, loaded back by for_model (config knobs still override it)."""
    from approx.calibrate import calibrate
    from approx.exp_lookup import for_model
    from protocols.config import override

    inputs = {"exp_in/0/attn": rng.normal(-4, 3, 30000).clip(max=0), "exp_in/1/attn": rng.normal(-2, 2, 30000).clip(max=0)}
    res = calibrate(inputs, "toy", functions=("exp-lookup",), out_dir=tmp_path, plots=False, eval_inputs=inputs)
    c = res["exp-lookup"]
    assert c.path == tmp_path / "toy" / "exp-lookup.v1.json" and c.path.exists()
    t = for_model("toy", root=tmp_path)
    assert t.index_bits == c.table.index_bits and t.version == 1
    assert t.info["errors"]["cutoff_calibration"]["mean"] <= c.target
    assert ExpLookup(index_bits=t.index_bits - 1).cutoff_error(np.concatenate(list(inputs.values())))["mean"] > c.target
    with override(exp_lut_index_bits=5):
        assert for_model("toy", root=tmp_path).index_bits == 5
    assert for_model("no-such-model", root=tmp_path).index_bits == ExpLookup().index_bits
    c.path.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="party-exp-lookup"):
        for_model("toy", root=tmp_path)
