import os
import signal
import subprocess
import sys
import time

import pytest

from llm_playground import zoo
from llm_playground.assets.files import write_manifest
from llm_playground.zoo import prepare


def _fake_conversion(calls):
    def convert(spec):
        folder = prepare.cache_dir(spec)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.safetensors").write_bytes(b"weights" * 10)
        (folder / "config.json").write_text("{}")
        write_manifest(folder, model=spec.name)
        calls.append(spec.name)
        return folder
    return convert


def test_cache_hit_does_not_convert_again(isolated_home, monkeypatch):
    calls = []
    monkeypatch.setattr(prepare, "convert_gguf", _fake_conversion(calls))
    monkeypatch.setattr(prepare, "_verified", set())
    spec = zoo.get_spec("smollm2-135m-instruct")
    first = prepare.model_dir(spec)
    monkeypatch.setattr(prepare, "_verified", set())  # a new process
    assert prepare.model_dir(spec) == first
    assert calls == ["smollm2-135m-instruct"]
    assert prepare.cache_state(spec) == "cached"


def test_corrupt_cache_file_is_rebuilt_never_used(isolated_home, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(prepare, "convert_gguf", _fake_conversion(calls))
    monkeypatch.setattr(prepare, "_verified", set())
    spec = zoo.get_spec("smollm2-135m-instruct")
    folder = prepare.model_dir(spec)
    (folder / "model.safetensors").write_bytes(b"WEIGHTS" * 10)  # same size, different bytes
    monkeypatch.setattr(prepare, "_verified", set())
    assert prepare.cache_state(spec).startswith("corrupt")
    prepare.model_dir(spec)
    assert calls == ["smollm2-135m-instruct"] * 2
    assert "damaged" in capsys.readouterr().out


@pytest.mark.slow
def test_conversion_killed_half_way_leaves_no_cache(isolated_home):
    """SIGKILL the real one-time GGUF conversion while it runs: nothing looks finished afterwards."""
    code = "from llm_playground import zoo; zoo.model_dir('smollm2-135m-instruct')"
    process = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    models = isolated_home / "models"
    deadline = time.time() + 120
    while time.time() < deadline and not (models.exists() and any(models.iterdir())):
        time.sleep(0.2)
    time.sleep(3)  # well into the conversion
    process.send_signal(signal.SIGKILL)
    process.wait()
    spec = zoo.get_spec("smollm2-135m-instruct")
    assert not prepare.cache_dir(spec).exists()
    assert prepare.cache_state(spec) == "not converted yet"
    leftovers = [p.name for p in models.iterdir()]
    assert leftovers and all(name.startswith(".") and name.endswith(".tmp") for name in leftovers)
