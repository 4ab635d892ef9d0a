"""Sentence encoders: the bundled MiniLM, the per-sentence cache, bad names."""

from __future__ import annotations

import numpy as np
import pytest

from aligner.errors import AlignerError
from aligner.features import feature_dims, load_text_features
from aligner.features.text import TextEncoder, get_text_encoder
from aligner.workspace import open_workspace


@pytest.fixture
def ws(tmp_path):
    return open_workspace(tmp_path)


def test_minilm_sentence_vectors(ws):
    texts = ["now chop the onions finely", "dice the onion into small pieces",
             "the stock market fell sharply today"]  # fmt: skip
    vectors = load_text_features(ws, texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    sim = vectors @ vectors.T
    assert sim[0, 1] > sim[0, 2] + 0.2  # paraphrases land together
    assert feature_dims(text="minilm")[1] == 384


def test_text_cache_encodes_each_sentence_once(ws, monkeypatch):
    first = load_text_features(ws, ["stir the sauce", "add salt"])
    seen: list[list[str]] = []
    real = TextEncoder.encode

    def spy(self, texts):
        seen.append(list(texts))
        return real(self, texts)

    monkeypatch.setattr(TextEncoder, "encode", spy)
    again = load_text_features(ws, ["add salt", "stir the sauce", "serve hot", "add salt"])
    assert seen == [["serve hot"]]  # only the new sentence
    assert np.allclose(again[0], first[1]) and np.allclose(again[1], first[0])
    assert np.allclose(again[0], again[3]) and again.shape == (4, 384)


def test_batches_do_not_change_the_vectors(monkeypatch):
    from aligner.features import text as text_module

    texts = [f"step {i}: {'fold the dough ' * (i % 5)}" for i in range(11)]
    encoder = get_text_encoder("minilm")
    whole = encoder.encode(texts)
    monkeypatch.setattr(text_module, "TEXT_BATCH", 3)  # padding differs per batch
    assert np.allclose(encoder.encode(texts), whole, atol=1e-5)


def test_unknown_text_model_is_one_clear_error(tmp_path):
    with pytest.raises(AlignerError, match="cannot load a text model") as err:
        TextEncoder(str(tmp_path / "missing-model")).encode(["hello"])
    assert "\n" not in str(err.value)


def test_text_cache_notices_writes_by_another_process(ws, monkeypatch):
    from aligner.atomic import atomic_write
    from aligner.features.text import text_key

    load_text_features(ws, ["whisk the eggs"])
    (path,) = ws.subdir("features", "text").glob("*.npz")
    marker = np.full((1, 384), 0.05, np.float32)
    keys = np.array([text_key("whisk the eggs"), text_key("fold gently")], dtype="U40")
    vectors = np.concatenate([load_text_features(ws, ["whisk the eggs"]), marker])
    atomic_write(path, lambda f: np.savez(f, keys=keys, vectors=vectors))  # "another process"
    monkeypatch.setattr(TextEncoder, "encode", lambda self, texts: pytest.fail("re-encoded"))
    assert np.allclose(load_text_features(ws, ["fold gently"]), marker)


def test_text_cache_parts_survive_a_kill_and_fold_into_one_file(tmp_path):
    """Parts a killed run left are read; `save` folds them into the main file; a part that
    came back beside it (a kill between the fold and the removal) adds no duplicate row; an
    unreadable part is skipped (its sentences are simply encoded again)."""
    from aligner.atomic import atomic_write
    from aligner.features.text import TextCache

    path = tmp_path / "enc.npz"
    v = np.eye(4, dtype=np.float32)
    run = TextCache(path)
    run.save_part(["a", "b"], v[:2])
    run.save_part(["c"], v[2:3])  # ... and the run is killed here: no fold
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "enc.part000001.npz", "enc.part000002.npz"]  # fmt: skip
    resumed = TextCache(path)
    assert resumed.keys == ["a", "b", "c"] and np.array_equal(resumed.vectors, v[:3])
    resumed.save()
    assert [p.name for p in tmp_path.iterdir()] == ["enc.npz"]

    stale = tmp_path / "enc.part000001.npz"
    atomic_write(stale, lambda f: np.savez(f, keys=np.array(["c", "d"]), vectors=v[[0, 3]]))
    (tmp_path / "enc.part000002.npz").write_bytes(b"PK\x03\x04 torn")
    again = TextCache(path)
    assert again.keys == ["a", "b", "c", "d"]
    assert np.array_equal(again.vectors, v)  # 'c' keeps the main file's vector
