"""`llmpg scaling …` end to end through the real parser."""
import json

from llm_playground.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_optimal_params_json(capsys):
    code, out, _ = run(capsys, "scaling", "optimal", "--params", "10B", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["params"] == 10e9 and data["flops"] is None
    headline = data["allocations"][0]
    assert headline["approach"] == "approach1"
    assert abs(headline["tokens"] / 205.1e9 - 1) < 0.10 and abs(headline["flops"] / 1.23e22 - 1) < 0.10


def test_optimal_flops_text_names_the_approach(capsys):
    code, out, _ = run(capsys, "scaling", "optimal", "--flops", "5.76e23")
    assert code == 0
    assert "Approach 1" in out and "Approach 3" in out and "Kaplan" in out and "67.8B" in out


def test_check_gpt3(capsys):
    code, out, _ = run(capsys, "scaling", "check", "--params", "175e9", "--tokens", "300B")
    assert code == 0
    assert "1.7 tokens/param" in out and "50.2B parameters on 1.05T tokens" in out


def test_table_and_plot(capsys, tmp_path):
    code, out, _ = run(capsys, "scaling", "table")
    assert code == 0 and "20.2B" in out and "3.7T" in out
    code, out, _ = run(capsys, "scaling", "plot", "--out", str(tmp_path / "laws.png"))
    assert code == 0 and (tmp_path / "laws.png").stat().st_size > 50_000


def test_bad_numbers_are_one_line_errors(capsys):
    code, out, err = run(capsys, "scaling", "optimal", "--params", "lots")
    assert code == 1 and out == ""
    assert err.startswith("llmpg: error: cannot read --params 'lots'") and err.count("\n") == 1
    code, _, err = run(capsys, "scaling", "optimal", "--params", "1B", "--flops", "1e20")
    assert code == 1 and "exactly one" in err
