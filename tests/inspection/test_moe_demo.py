"""The MoE demo: the balancing loss evens out expert load; the chart is written."""
import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.inspection.moe_demo import MoEDemoConfig, format_moe_demo, plot_moe_demo, run_moe_demo


@pytest.fixture(scope="module")
def result():
    return run_moe_demo(MoEDemoConfig(steps=150))


def test_balancing_loss_evens_out_the_load(result):
    assert sum(result["load_before"]) == sum(result["load_with_balancing"]) == 2 * 4096  # top-2 of 4096 tokens
    assert result["cv_with_balancing"] < 0.5 * result["cv_without_balancing"]
    assert result["cv_with_balancing"] < result["cv_before"]
    assert result["final_loss_with_balancing"] < 0.1  # balancing does not stop it learning the task


def test_report_and_chart(result, tmp_path):
    text = format_moe_demo(result)
    assert f"{result['cv_with_balancing']:.2f}" in text and "no balancing loss" in text
    path = plot_moe_demo(result, tmp_path / "charts" / "moe.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_bad_config_is_refused():
    with pytest.raises(PlaygroundError, match="top_k"):
        MoEDemoConfig(n_experts=4, top_k=5)
