"""The quality suite's families (benchmarks/quality): noise statistics of the plans, and real
folders that the tool ingests with the ground truth matching every sentence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.quality.families import CHITCHAT, PLANNERS, mixture_offset
from benchmarks.quality.render import Painter, plans, write_folder


def _alignable(plan):
    return [s for s in plan.sentences if s.shown]


def test_offsets_are_heavy_tailed_like_asr():
    rng = np.random.default_rng(0)
    off = np.abs([mixture_offset(rng) for _ in range(4000)])
    assert 0.3 < np.mean(off <= 2) < 0.4 and 0.2 < np.mean(off >= 15) < 0.3
    said = [s.start - s.shown[0] for p in plans("filler", 5, 30) for s in _alignable(p)]
    assert np.mean(np.abs(said) > 15) > 0.12 and np.max(np.abs(said)) > 25


@pytest.mark.parametrize("family", sorted(PLANNERS))
def test_every_family_has_the_noise_of_real_narration(family):
    folder = plans(family, 3, 8)
    sentences = [s for p in folder for s in p.sentences]
    steps = [sh for p in folder for sh in p.shots if sh.things]
    assert any(s.text in CHITCHAT for s in sentences)  # chit-chat
    absent = [s for p in folder for s in p.sentences if not s.shown and s.text not in CHITCHAT]
    assert absent  # sentences naming things the video never shows
    narrated = {s.shown for s in sentences if s.shown}
    assert len(narrated) < len({(sh.start, sh.end) for sh in steps})  # unnarrated steps
    for p in folder:  # sentences in time order, never overlapping, inside the video
        starts = [s.start for s in p.sentences]
        assert starts == sorted(starts) and all(0 <= s.start < s.end <= p.duration
                                                for s in p.sentences)  # fmt: skip
        assert all(a.end <= b.start for a, b in zip(p.sentences, p.sentences[1:], strict=False))


def test_families_differ_in_structure():
    workspace, crowded = plans("workspace", 1, 9), plans("crowded", 1, 4)
    assert {p.container for p in workspace} == {"mp4", "mkv", "webm"}
    assert len({p.size for p in workspace}) == 3
    assert sum(any(s.kind == "head" for s in p.shots) for p in workspace) < len(workspace) / 2
    recurring = [p for p in workspace if len({sh.things for sh in p.shots if sh.things})
                 < sum(1 for sh in p.shots if sh.things)]  # fmt: skip
    assert recurring  # the same thing shown more than once in a video
    assert all(len(sh.things) >= 2 for p in crowded for sh in p.shots)
    assert min(p.duration for p in crowded) >= 300 and all(p.fade_s > 0 for p in crowded)
    filler = plans("filler", 1, 3)
    assert all(sh.kind in ("head", "photo") for p in filler for sh in p.shots)


def test_frames_show_what_the_shots_say():
    plan = plans("workspace", 2, 1)[0]
    painter = Painter(plan)
    step = next(sh for sh in plan.shots if sh.things)
    empty = next(sh for sh in plan.shots if not sh.things and sh.kind == "workspace")
    shown = painter.frame((step.start + step.end) / 2).astype(float)
    bare = painter.frame((empty.start + empty.end) / 2).astype(float)
    assert shown.shape == (plan.size[1], plan.size[0], 3)
    changed = (np.abs(shown - bare).max(axis=2) > 40).mean()
    assert changed > 0.05  # the thing covers part of the workspace (noise alone: ~0)


def test_a_written_folder_ingests_with_all_ground_truth_matched(tmp_path):
    from aligner.evaluate import match_sentences, read_ground_truth
    from aligner.ingest import ingest_dataset
    from aligner.store import Store
    from aligner.workspace import open_workspace

    out = write_folder(tmp_path / "ws", "workspace", seed=4, n_videos=3)
    assert sorted(p.suffix for p in (out / "videos").iterdir()) == [".mkv", ".mp4", ".webm"]
    ws = open_workspace(out)
    ingest_dataset(ws, progress=False)
    truth = read_ground_truth(out / "annotations" / "htm_align.json")
    with Store(ws.db_path) as store:
        assert {v["status"] for v in store.videos()} == {"ok"}
        matched = match_sentences(truth, store.sentences())
    assert all(t.sentence_id is not None for t in matched)
    data = json.loads((out / "annotations" / "htm_align.json").read_text())
    assert sum(len(rows) for rows in data.values()) == len(truth) > 10


def test_the_ceiling_counts_a_sentence_said_nearer_another_showing_as_a_miss(monkeypatch):
    import benchmarks.quality.ceiling as ceiling
    from benchmarks.quality.families import THINGS, Sentence, Shot, VideoPlan

    thing = THINGS[0]
    shots = (Shot("photo", 10.0, 20.0, (thing.name,)), Shot("photo", 60.0, 70.0, (thing.name,)))
    said = f"Now we look at the {thing.nouns[0]}."
    plan = VideoPlan("v", 90.0, shots, (
        Sentence(said, 12.0, 14.0, (10.0, 20.0)),  # said during its showing: a hit
        Sentence(said, 52.0, 54.0, (10.0, 20.0)),  # said nearer the other showing: a miss
    ))  # fmt: skip
    assert ceiling.nearest_showing_ceiling("filler", 3) == 100.0  # every thing is shown once
    assert ceiling.nearest_showing_ceiling("workspace", 3) < 100.0  # things recur there
    monkeypatch.setattr(ceiling, "plans", lambda family, seed, offset=None: [plan])
    assert ceiling.nearest_showing_ceiling("any", 0) == 50.0


def test_the_assignment_ceiling_gives_each_showing_one_sentence(monkeypatch):
    import benchmarks.quality.ceiling as ceiling
    from benchmarks.quality.families import THINGS, Sentence, Shot, VideoPlan, laplace_offset

    thing = THINGS[0]
    shots = (Shot("photo", 10.0, 20.0, (thing.name,)), Shot("photo", 40.0, 50.0, (thing.name,)))
    said = f"Now we look at the {thing.nouns[0]}."
    plan = VideoPlan("v", 90.0, shots, (
        Sentence(said, 33.0, 35.0, (10.0, 20.0)),  # 23 s late, yet before the second one
        Sentence(said, 41.0, 43.0, (40.0, 50.0)),  # on time
    ))  # fmt: skip
    monkeypatch.setattr(ceiling, "plans", lambda family, seed, offset=None: [plan])
    monkeypatch.setitem(ceiling.OFFSETS, "any", laplace_offset)
    assert ceiling.nearest_showing_ceiling("any", 0) == 50.0  # both nearest the second showing
    assert ceiling.assignment_ceiling("any", 0) == 100.0  # one sentence per showing
    late = (Sentence(said, 41.0, 43.0, (10.0, 20.0)),)  # alone and nearer the other showing
    monkeypatch.setattr(
        ceiling, "plans", lambda family, seed, offset=None: [VideoPlan("v", 90.0, shots, late)]
    )
    assert ceiling.assignment_ceiling("any", 0) == 0.0


def test_another_offset_sampler_keeps_the_shots_and_moves_the_narration(monkeypatch):
    import benchmarks.quality.ceiling as ceiling
    from benchmarks.quality.families import THINGS, Sentence, Shot, VideoPlan, mixture_offset

    own, mixed = plans("crowded", 3, 2), plans("crowded", 3, 2, offset=mixture_offset)
    assert [p.shots for p in own] == [p.shots for p in mixed]
    assert [s.start for s in own[0].sentences] != [s.start for s in mixed[0].sentences]
    assert ceiling.asr_r_at_1("crowded", 3) > ceiling.asr_r_at_1("crowded", 3, mixture_offset)
    thing = THINGS[0]
    shots = (Shot("photo", 10.0, 20.0, (thing.name,)),)
    plan = VideoPlan("v", 90.0, shots, (
        Sentence("a", 12.0, 14.0, (10.0, 20.0)),  # its midpoint inside the showing: a hit
        Sentence("b", 32.0, 34.0, (10.0, 20.0)),  # 14 s after it: a miss
        Sentence("c", 50.0, 52.0),  # nothing shown: not counted
    ))  # fmt: skip
    monkeypatch.setattr(ceiling, "plans", lambda family, seed, offset=None: [plan])
    assert ceiling.asr_r_at_1("any", 0) == 50.0
