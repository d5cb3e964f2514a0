"""Power-law fits recover known laws; the plot lands on disk as a PNG."""
import numpy as np
import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.scaling import fit_power_law, plot_power_law_fit


def test_pure_power_law_is_recovered_exactly():
    x = np.geomspace(1e12, 1e16, 6)
    loss = 40.0 * x ** -0.08
    fit = fit_power_law(x, loss, irreducible=False)
    assert fit.coefficient == pytest.approx(40.0, rel=1e-9)
    assert fit.exponent == pytest.approx(0.08, rel=1e-9)
    assert fit.irreducible == 0.0 and fit.rmse_log < 1e-12 and fit.points == 6


def test_irreducible_term_is_recovered():
    x = np.geomspace(1e13, 1e18, 8)
    loss = 1.7 + 300.0 * x ** -0.15
    fit = fit_power_law(x, loss)
    assert fit.irreducible == pytest.approx(1.7, abs=1e-3)
    assert fit.exponent == pytest.approx(0.15, rel=1e-2)
    np.testing.assert_allclose(fit.predict(x), loss, rtol=1e-4)


def test_noisy_points_fit_close_to_the_truth():
    rng = np.random.default_rng(0)
    x = np.geomspace(1e12, 1e15, 10)
    truth = 2.0 + 50.0 * x ** -0.12
    fit = fit_power_law(x, truth * np.exp(rng.normal(0, 0.005, x.size)))
    np.testing.assert_allclose(fit.predict(x), truth, rtol=0.02)
    assert "L = " in fit.formula() and "C^-" in fit.formula()


def test_bad_inputs():
    with pytest.raises(PlaygroundError, match="at least 3"):
        fit_power_law([1, 2], [3, 2])
    with pytest.raises(PlaygroundError, match="positive"):
        fit_power_law([1, 2, -3], [3, 2, 1])
    with pytest.raises(PlaygroundError, match="two different"):
        fit_power_law([5, 5, 5], [3, 2, 1])


def test_plot_writes_a_png(tmp_path):
    x = np.geomspace(1e12, 1e15, 5)
    loss = 2.0 + 50.0 * x ** -0.12
    path = plot_power_law_fit(x, loss, fit_power_law(x, loss), tmp_path / "sub" / "fit.png",
                              point_labels=[f"run {i}" for i in range(5)])
    assert path == tmp_path / "sub" / "fit.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    assert [p.name for p in path.parent.iterdir()] == ["fit.png"]  # no temp file left behind
