from llm_playground.scaling import plot_laws


def test_plot_laws_writes_a_png(tmp_path):
    path = plot_laws(tmp_path / "laws.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
