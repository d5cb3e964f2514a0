import hashlib
import json

import pytest

from llm_playground.assets.files import (atomic_directory, atomic_write_bytes, sha256_file, verify_manifest,
                                         write_manifest)


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "data.bin"
    data = bytes(range(256)) * 40_000  # 10 MB, more than one read chunk
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_atomic_write_replaces_whole_file_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "sub" / "file.txt"
    atomic_write_bytes(path, b"first")
    atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second"
    assert [p.name for p in path.parent.iterdir()] == ["file.txt"]


def test_atomic_directory_failure_leaves_nothing_that_looks_finished(tmp_path):
    final = tmp_path / "model"
    with pytest.raises(RuntimeError):
        with atomic_directory(final) as folder:
            (folder / "model.safetensors").write_bytes(b"half")
            raise RuntimeError("killed half-way")
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_replaces_an_old_folder(tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with atomic_directory(final) as folder:
        (folder / "new.txt").write_text("new")
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]


def test_manifest_detects_corruption_and_missing_files(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    (tmp_path / "b.json").write_text("{}")
    manifest = write_manifest(tmp_path, model="demo")
    assert set(manifest["files"]) == {"a.bin", "b.json"}
    assert json.loads((tmp_path / "manifest.json").read_text())["model"] == "demo"
    assert verify_manifest(tmp_path) == []
    (tmp_path / "a.bin").write_bytes(b"y" * 100)  # same size, other bytes
    assert verify_manifest(tmp_path) == [f"{tmp_path / 'a.bin'} does not match its recorded sha256"]
    (tmp_path / "b.json").unlink()
    assert any("b.json is missing" in p for p in verify_manifest(tmp_path))


def test_folder_without_manifest_is_not_trusted(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    assert "missing" in verify_manifest(tmp_path)[0]
