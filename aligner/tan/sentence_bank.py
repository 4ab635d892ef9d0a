"""The sentence bank: a sample of the training folder's sentence vectors, kept with the model
(and in its checkpoint), over which the alignability head on the sentence alone is pooled.

That head learns from noisy co-training labels which kinds of sentence are never shown ("don't
forget to subscribe"). It sees each phrase only a few times, so it also learns the noise of
their labels: on the quality suite's crowded folders one chit-chat phrase scored above the
median shown sentence while the others scored far below it. A sentence's head logit averaged
over its `NEIGHBOURS` most similar bank sentences (cosine of the sentence vectors; itself among
them when the model was trained on it) pools the evidence of sentences of the same kind.
Development folders, two training seeds, ROC-AUC of the final alignability, mean over the 4
families 94.9 -> 95.6 (filler +1.9, workspace +0.2, crowded +0.4, generator +0.5; one of the 8
family x seed pairs -0.1); 5 and 10 neighbours gave 95.1 and 95.4, 40 the same 95.6;
leave-one-family-out picks 20 or 40 (benchmarks/results/quality_variants.json, "session_6").
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

NEIGHBOURS = 20  # bank sentences a sentence's head logit is averaged over
BANK_SIZE = 4096  # sentences kept (a fixed random sample beyond): 3 MB as float16


def sample_bank(texts: Iterable[np.ndarray], seed: int) -> np.ndarray:
    """`(R, Dt)` float16: the sentence vectors of `texts` (one `(K_i, Dt)` per video, in
    order), all of them up to `BANK_SIZE`, else a uniform random sample of that many in their
    order (deterministic in `seed`). Streamed: at most `BANK_SIZE` plus one video's vectors are
    held at once, so the Ray trainer can sample a dataset's shards."""
    rng = np.random.default_rng(seed)
    kept, keys = None, np.zeros(0)
    for text in texts:
        text = np.asarray(text, np.float32)
        if not len(text):
            continue
        kept = text if kept is None else np.concatenate([kept, text])
        keys = np.concatenate([keys, rng.random(len(text))])  # keep the smallest keys
        if len(kept) > BANK_SIZE:
            keep = np.sort(np.argpartition(keys, BANK_SIZE)[:BANK_SIZE])
            kept, keys = kept[keep], keys[keep]
    return (kept if kept is not None else np.zeros((0, 0), np.float32)).astype(np.float16)


def pooled_sentence_logits(model, text: np.ndarray) -> np.ndarray | None:
    """`(K,)` the sentence head's logit averaged over each sentence's `NEIGHBOURS` most similar
    bank sentences (`model.sentence_bank`); None when the model has no bank (a checkpoint from
    before banks)."""
    import torch

    bank = getattr(model, "sentence_bank", None)
    if bank is None or not len(bank) or not len(text):
        return None
    bank_t = torch.from_numpy(np.asarray(bank, np.float32))
    with torch.no_grad():
        bank_logits = model.sentence_logit(bank_t)  # (R,)
        cosine = _unit(torch.from_numpy(np.asarray(text, np.float32))) @ _unit(bank_t).T
        nearest = cosine.topk(min(NEIGHBOURS, len(bank)), dim=1).indices  # (K, n)
        return bank_logits[nearest].mean(1).numpy().astype(np.float64)


def _unit(x):
    return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-8)
