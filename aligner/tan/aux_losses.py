"""Auxiliary training signals from entity prompts (both off by default: see the README's
ablation): ALPRO's prompt-entity modeling and ST-XlanV's tag-alignment prediction.

Both read the dataset's entity vocabulary (`aligner.vocabulary`: noun phrases of its own
transcripts) turned into prompts "a video of {entity}", projected by the model's own text input
(`encode_text`), so they add no parameters and checkpoints keep their shape. A sentence's tags
are the entities it names (whole words); a window's tag set is the union over its sentences
that have a positive second in it.

- Prompt-entity modeling (PEM, ALPRO): per second t, a soft entity label q_t from a prompter,
  predicted by the video side. ALPRO's prompter is a separately trained video-text model; ours
  is the model itself, detached: q_t = softmax over the entities named by the sentences whose
  target covers t of cos(dual video_t, prompt_e) / tau (the narration says which entities are
  candidates, the picture says which of them is shown). The student's dual video token at t is
  then classified over *all* entities (logits = cos(video_t, prompt_e) / tau), soft
  cross-entropy against q_t. Seconds no naming sentence covers sit out.
- Tag-alignment prediction (TAP, ST-XlanV): "is this tag set from this video?" Each window's
  pooled dual video against the mean prompt of every window's tag set in the batch: BCE with
  logit (cos - `TAP_MARGIN`) / tau, positives its own tag set, negatives other windows' tag sets
  that differ from it; positives and negatives weigh half each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from aligner.tan.batching import Batch

TAP_MARGIN = 0.2  # cosine at which a (video, tag set) pair is judged 50/50
ATTR = "aux_entities"  # attribute of the model that carries the `EntityPrompts` while training


@dataclass
class EntityPrompts:
    """The vocabulary's prompt vectors and which entities each training sentence names."""

    entities: list[str]
    vectors: torch.Tensor  # (E, Dt) prompt sentence vectors, as the text encoder gives them
    mentions: dict[bytes, np.ndarray]  # sentence vector bytes -> (E,) bool: entities it names

    def mention_matrix(self, batch: Batch) -> torch.Tensor:
        """`(B, K, E)` bool: the entities each sentence of the batch names."""
        b, k, _ = batch.text.shape
        out = np.zeros((b, k, len(self.entities)), dtype=bool)
        text = batch.text.numpy()
        for i in range(b):
            for j in np.flatnonzero(~batch.text_pad[i].numpy()):
                row = self.mentions.get(text[i, j].tobytes())
                if row is not None:
                    out[i, j] = row
        return torch.from_numpy(out)


def prepare(ws, store, items, spec, cfg) -> EntityPrompts | None:
    """The `EntityPrompts` of a training set, or None when both auxiliary weights are 0 (or the
    transcripts name no entity in two videos)."""
    if not (cfg.pem_weight > 0 or cfg.tap_weight > 0):
        return None
    from aligner import features, vocabulary

    texts = {s.sentence_id: (s.video_id, s.text) for s in store.sentences()}
    entities = vocabulary.build_vocabulary(texts.values())
    if not entities:
        return None
    vectors = features.load_text_features(ws, [vocabulary.prompt(e) for e in entities], spec.text)
    mentions = {}
    for item in items:
        for vec, sid in zip(item.text, item.sentence_ids or [], strict=False):
            row = np.zeros(len(entities), dtype=bool)
            row[vocabulary.mentions(texts[sid][1], entities)] = True
            mentions[np.asarray(vec, dtype=np.float32).tobytes()] = row
    return EntityPrompts(entities, torch.from_numpy(np.asarray(vectors, np.float32)), mentions)


def attach(model, prompts: EntityPrompts | None) -> None:
    """Give the model its prompts for training (a plain attribute: not in the state dict)."""
    setattr(model, ATTR, prompts)


def aux_loss(model, out, batch: Batch, positive: torch.Tensor, cfg) -> torch.Tensor:
    """`pem_weight * PEM + tap_weight * TAP` for one forward pass; 0 when off.

    positive `(B, K, T)` bool: the sentence -> second targets the main loss uses."""
    prompts = getattr(model, ATTR, None)
    zero = out.dual_video.sum() * 0
    if prompts is None or not (cfg.pem_weight > 0 or cfg.tap_weight > 0):
        return zero
    named = prompts.mention_matrix(batch)  # (B, K, E)
    prompt = F.normalize(model.encode_text(prompts.vectors), dim=-1)  # (E, d)
    tau = model.cfg.temperature
    loss = zero
    if cfg.pem_weight > 0:
        loss = loss + cfg.pem_weight * pem_loss(out.dual_video, prompt, named, positive, batch, tau)
    if cfg.tap_weight > 0:
        loss = loss + cfg.tap_weight * tap_loss(out.dual_video, prompt, named, positive, batch, tau)
    return loss


def pem_loss(video, prompt, named, positive, batch: Batch, tau: float) -> torch.Tensor:
    """Prompt-entity modeling: video `(B, T, d)`, prompt `(E, d)` normalised; named `(B, K, E)`;
    positive `(B, K, T)`. Soft labels from the detached prompter, restricted to the entities
    named at each second."""
    candidates = torch.einsum("bkt,bke->bte", positive.float(), named.float()) > 0  # (B, T, E)
    keep = candidates.any(-1) & ~batch.video_pad  # (B, T)
    if not keep.any():
        return video.sum() * 0
    logits = torch.einsum("btd,ed->bte", video, prompt) / tau  # (B, T, E)
    with torch.no_grad():
        prompter = logits.detach().masked_fill(~candidates, float("-inf"))
        soft = torch.softmax(prompter[keep], dim=-1)  # (N, E)
    return -(soft * torch.log_softmax(logits[keep], dim=-1)).sum(-1).mean()


def tap_loss(video, prompt, named, positive, batch: Batch, tau: float) -> torch.Tensor:
    """Tag-alignment prediction: is window j's tag set from window i's video? BCE over pairs."""
    tags = (named & positive.any(2, keepdim=True)).any(1)  # (B, E) window tag sets
    has = tags.any(1)
    if has.sum() < 2:
        return video.sum() * 0
    vmask = (~batch.video_pad).float()
    pooled = F.normalize((video * vmask[..., None]).sum(1) / vmask.sum(1, keepdim=True), dim=-1)
    sets = F.normalize(tags.float() @ prompt, dim=-1)  # (B, d): mean prompt of each tag set
    v, s, t = pooled[has], sets[has], tags[has]
    logits = (v @ s.T - TAP_MARGIN) / tau  # (B', B')
    same = (t[:, None, :] == t[None, :, :]).all(-1)  # identical tag sets are no negative
    eye = torch.eye(len(v), dtype=torch.bool)
    pos = F.binary_cross_entropy_with_logits(logits[eye], torch.ones(len(v)))
    negatives = ~same & ~eye
    if not negatives.any():
        return pos
    neg = F.binary_cross_entropy_with_logits(logits[negatives], torch.zeros(int(negatives.sum())))
    return (pos + neg) / 2
