"""The HTM-Align protocol as TAN's eval runs it: windows chosen from ASR times only, window outputs
stitched, R@1 / ROC-AUC worked out by hand on a fixture in the real file's format, and an
end-to-end run (precomputed features + a tiny trained checkpoint + the CLI) checked against a
plain re-computation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from aligner import cli
from aligner.evaluate import read_ground_truth, roc_auc
from aligner.htm_align import (
    MASKED,
    group_by_video,
    pooled_metrics,
    score_video,
    stitch,
    tan_windows,
    window_starts,
)
from aligner.tan.infer import VideoPrediction

# The real file's format: {video_id: [[alignable, start, end, text]]}, lower case, no punctuation;
# a non-alignable row keeps its ASR times, an alignable one carries the annotated (shown) times.
FIXTURE = {
    "vid_b": [
        [1, 5.2, 9.9, "whisk the eggs"],
        [0, 30.0, 34.0, "so yeah"],
        [1, 60.1, 66.0, "pour into the pan"],
    ],
    "vid_a": [
        [0, 3.0, 7.0, "hi guys welcome back"],
        [1, 20.3, 24.6, "cut the onions into thin slices"],
        [0, 48.0, 52.0, "let me know in the comments"],
        [1, 80.5, 83.2, "fry them until golden"],
    ],
}
LENGTH = {"vid_a": 100, "vid_b": 70}  # seconds of features
BASE = -2.0  # every similarity not listed below (cosine / tau; negative, so masking matters)
# (video, row) -> {second: value} for the joint and the dual similarity of every window
JOINT = {("vid_a", 0): {10: 1.0}, ("vid_a", 1): {22: 6.0}, ("vid_a", 3): {84: -0.5},
         ("vid_b", 0): {12: 3.0}}  # fmt: skip
DUAL = {("vid_a", 1): {40: 5.0}, ("vid_a", 3): {90: -1.0}, ("vid_b", 0): {7: 4.0}}
# (video, row) -> head logit in each window the row joins (averaged as logits, not probabilities)
HEAD = {("vid_a", 0): [4, -4, 4, -4, 3], ("vid_a", 1): [1] * 5, ("vid_a", 2): [-1] * 5,
        ("vid_a", 3): [2], ("vid_b", 0): [0.5] * 3, ("vid_b", 1): [-3] * 3}  # fmt: skip
DUAL_HEAD = {("vid_a", 0): [0] * 5, ("vid_a", 1): [-1] * 5, ("vid_a", 2): [1] * 5,
             ("vid_a", 3): [-2], ("vid_b", 0): [2] * 3, ("vid_b", 1): [0] * 3}  # fmt: skip


def test_window_starts_follow_tan():
    assert window_starts(100, 64) == [0, 16, 32, 48, 64]  # t0 < T - 32, every 16 s
    assert window_starts(300, 64)[-1] == 256 and len(window_starts(300, 64)) == 17
    assert window_starts(30, 64) == []  # shorter than half a window: TAN scores nothing


def test_window_membership_uses_asr_times_of_non_alignable_sentences_only():
    # rows 0, 2, 5 are non-alignable (ASR midpoints 4, 150, 290); 1, 3, 4 alignable
    alignable = np.array([0, 1, 0, 1, 1, 0], bool)
    start = np.array([2.0, 20.0, 148.0, 160.0, 250.0, 288.0])
    end = np.array([6.0, 25.0, 152.0, 170.0, 260.0, 292.0])
    plan = {w.t0: w.rows.tolist() for w in tan_windows(300, alignable, start, end, 64)}
    # a midpoint m is near window t0 when t0 - 64 <= m <= t0 + 128: row 0 up to t0 = 64, row 2
    # from t0 = 32 to 208, row 5 from t0 = 176; the first four windows reach row 0 and the
    # last four (t0 >= 208) the last row; rows in between join with their neighbours
    assert plan[0] == plan[16] == [0]
    assert plan[32] == plan[48] == plan[64] == [0, 1, 2]
    assert all(plan[t0] == [2] for t0 in range(80, 176, 16))
    assert plan[176] == plan[192] == plan[208] == [2, 3, 4, 5]
    assert plan[224] == plan[240] == plan[256] == [5]
    # the alignable rows' (annotated) times never matter: moving them changes nothing
    moved = tan_windows(300, alignable, start + alignable * 100, end + alignable * 100, 64)
    assert {w.t0: w.rows.tolist() for w in moved} == plan


def test_short_video_extends_the_last_windows_only_after_the_first_four():
    # TAN's `if idx <= 3 ... elif idx >= len(step) - 4`: in a 5-window video only the fifth
    # window reaches the trailing alignable sentence
    alignable, start, end = (
        np.array([0, 0, 1], bool),
        np.array([3.0, 48, 80]),
        np.array([7.0, 52, 84]),
    )
    rows = [w.rows.tolist() for w in tan_windows(100, alignable, start, end, 64)]
    assert rows == [[0, 1]] * 4 + [[0, 1, 2]]
    only_alignable = tan_windows(100, np.ones(3, bool), start, end, 64)
    assert only_alignable == []  # no ASR time to place a window: every window is skipped


def _window_outputs(video_id, windows):
    """What a model would return per window, built from the tables above."""
    outputs, seen = [], {}
    for w in windows:
        seconds = np.arange(w.t0, w.t1)
        joint = np.full((len(w.rows), len(seconds)), BASE)
        dual = joint.copy()
        head, dual_head = [], []
        for i, row in enumerate(w.rows.tolist()):
            for table, sim in ((JOINT, joint), (DUAL, dual)):
                for second, value in table.get((video_id, row), {}).items():
                    if w.t0 <= second < w.t1:
                        sim[i, second - w.t0] = value
            n = seen[row] = seen.get(row, -1) + 1
            head.append(HEAD[(video_id, row)][n])
            dual_head.append(DUAL_HEAD[(video_id, row)][n])
        sigmoid = lambda x: 1 / (1 + np.exp(-np.array(x, float)))  # noqa: E731
        outputs.append(VideoPrediction(joint, dual, sigmoid(head), sigmoid(dual_head),
                                       np.zeros(len(seconds), bool)))  # fmt: skip
    return outputs


def test_metrics_worked_out_by_hand(tmp_path):
    path = tmp_path / "htm_align.json"
    path.write_text(json.dumps(FIXTURE))
    scores, stitched_a = [], None
    for video_id, truths in group_by_video(read_ground_truth(path)).items():
        alignable = np.array([t.alignable for t in truths])
        start, end = np.array([t.start for t in truths]), np.array([t.end for t in truths])
        windows = tan_windows(LENGTH[video_id], alignable, start, end, 64)
        stitched = stitch(
            len(truths), LENGTH[video_id], windows, _window_outputs(video_id, windows)
        )
        stitched_a = stitched if video_id == "vid_a" else stitched_a
        scores.append(score_video(video_id, truths, stitched, len(windows)))
    assert [s.video_id for s in scores] == ["vid_a", "vid_b"]  # sorted, as TAN's loader
    # vid_a: 5 windows, rows 0-2 in all, row 3 ("fry them") only in the last (t0 = 64)
    assert scores[0].n_windows == 5 and stitched_a.seen.tolist() == [5, 5, 5, 1]
    assert stitched_a.head_logit == pytest.approx([0.6, 1.0, -1.0, 2.0])  # logits averaged
    assert np.all(stitched_a.joint[3, :64] == 0) and stitched_a.masked()[3, 0] == MASKED
    # peaks of the fused (joint + dual) / 2: "cut the onions" 22 ((6 - 2) / 2 = 2 beats 1.5 at
    # 40), hit in [20, 25]; "fry them" 84 (-1.25 beats -1.5 at 90; the unseen seconds 0-63 are
    # masked, else their 0 would win), hit in [80, 84]; vid_b "whisk" 7 (1 beats 0.5 at 12), hit
    # in [5, 10]; "pour into the pan" is in no window (vid_b's 3 windows reach row 1 at most),
    # so its peak is second 0: a miss
    hits = {m: h.tolist() for m, h in scores[0].hits.items()}
    assert hits == {"tan": [True, True], "joint": [True, True], "dual": [False, False],
                    "max_sim": [True, True]}  # fmt: skip
    assert scores[1].hits["tan"].tolist() == [True, False] and scores[1].n_unseen == 1
    result = {m: pooled_metrics(scores, m) for m in ("tan", "joint", "dual", "max_sim")}
    # ROC-AUC, positives vs negatives over all 7 sentences (12 pairs):
    # joint head: pos 1.0, 2.0, 0.5, 0 (unseen) vs neg 0.6, -1, -3 -> 3 + 3 + 2 + 2 = 10
    # (averaging probabilities instead would put 0.5 above vid_a row 0's 0.37: 11 of 12)
    # dual head: pos -1, -2, 2, 0 vs neg 0, 1, 0 -> 0 + 0 + 3 + (0.5 + 0.5) = 4
    # max of the masked fused sim: pos 2, -1.25, 1, -6e4 vs neg -0.5, -2, -2 -> 3 + 2 + 3 + 0 = 8
    assert result["tan"] == pytest.approx({"r_at_1": 3 / 4, "roc_auc": 10 / 12})
    assert result["joint"] == pytest.approx({"r_at_1": 2 / 4, "roc_auc": 10 / 12})
    assert result["dual"] == pytest.approx({"r_at_1": 1 / 4, "roc_auc": 4 / 12})
    assert result["max_sim"] == pytest.approx({"r_at_1": 3 / 4, "roc_auc": 8 / 12})


# -- end to end: files on disk, a tiny trained model, the CLI ------------------------------------
STEPS = ["crack two eggs into a bowl", "whisk the eggs with a fork", "chop the green onions",
         "melt the butter in the pan", "pour the eggs into the pan", "sprinkle some salt on top"]  # fmt: skip
CHATTER = ["hi everyone welcome back to my channel", "dont forget to like and subscribe",
           "so yeah thats pretty much it", "let me know what you think in the comments"]  # fmt: skip
DIM = 24  # toy "S3D" width


def _toy_folder(root, n_videos=3, seed=3):
    """Features at 1/s where each step's visual prototype is shown, and its annotation."""
    rng = np.random.default_rng(seed)
    protos = rng.normal(size=(len(STEPS) + 1, DIM))  # last: the talking head
    (root / "features" / "s3d").mkdir(parents=True)
    (root / "annotations").mkdir()
    truth, asr = {}, {}
    for i in range(n_videos):
        t = int(rng.integers(80, 130))
        frames = np.tile(protos[-1], (t, 1))
        rows, asr_rows, cursor = [], [], 4.0
        while cursor + 14 < t:
            c = int(rng.integers(len(STEPS)))
            a, b = cursor, cursor + float(rng.uniform(5, 10))
            frames[int(a) : int(b)] = protos[c]
            said = float(np.clip(a + rng.normal(0, 6), 0, t - 4))
            rows.append([1, round(a, 3), round(b, 3), STEPS[c]])
            asr_rows.append((said, said + 3))
            line = CHATTER[int(rng.integers(len(CHATTER)))]
            rows.append([0, round(b + 1, 3), round(b + 4, 3), line])
            asr_rows.append((b + 1, b + 4))
            cursor = b + float(rng.uniform(5, 9))
        vid = f"v{i}"
        feats = frames + 0.4 * rng.normal(size=frames.shape)
        np.save(root / "features" / "s3d" / f"{vid}.mp4.npy", feats.astype(np.float32))
        truth[vid], asr[vid] = rows, asr_rows
    (root / "annotations" / "htm_align.json").write_text(json.dumps(truth))
    return truth, asr


@pytest.fixture(scope="module")
def one_thread():
    """Many tiny forward passes: on a shared machine extra torch threads only contend."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def benchmark_folder(tmp_path_factory, one_thread):
    """A folder of precomputed features + htm_align.json, and a checkpoint trained on it."""
    from aligner.features import load_text_features
    from aligner.tan.batching import VideoItem
    from aligner.tan.checkpoints import save_checkpoint, stage1_sibling
    from aligner.tan.config import FeatureSpec, TANConfig, TrainConfig
    from aligner.tan.model import build_model
    from aligner.tan.train import train_items
    from aligner.workspace import open_workspace

    root = tmp_path_factory.mktemp("htm") / "ds"
    truth, asr = _toy_folder(root)
    ws = open_workspace(root)
    items = []
    for vid, rows in truth.items():
        video = np.load(root / "features" / "s3d" / f"{vid}.mp4.npy")
        text = load_text_features(ws, [r[3] for r in rows])
        start, end = (np.array(x) for x in zip(*asr[vid], strict=True))
        items.append(VideoItem(vid, [video], text, start, end))
    spec = FeatureSpec(("precomputed:s3d",), (DIM,), "minilm", items[0].text.shape[1])
    cfg = TANConfig(width=32, joint_layers=1, dual_layers=1, heads=2, members=1)
    tcfg = TrainConfig(stage1_epochs=1, stage2_epochs=1, min_batches=2, min_val_videos=99)
    result = train_items(items, spec, config=cfg, train_config=tcfg, seed=0, progress=False)
    ckpt = save_checkpoint(result.model, root / "tiny.pt")
    stage1 = build_model(cfg, spec)
    stage1.load_state_dict(result.stage1_state)
    save_checkpoint(stage1, stage1_sibling(ckpt))  # "TAN before co-training", scored beside
    # a video in the annotation whose features are missing: reported, the rest still scored
    truth["missing"] = [[1, 1.0, 3.0, "crack two eggs into a bowl"], [0, 5.0, 8.0, "so yeah"]]
    (root / "annotations" / "htm_align.json").write_text(json.dumps(truth))
    return ws, ckpt, truth


def _reference(ws, model, truth):
    """TAN's loop written out plainly (windows, per-window passes, sums / counts, masked
    softmax, argmax, pooled R@1 and ROC-AUC) to check the module's vectorised version."""
    from aligner.features import load_text_features
    from aligner.tan.infer import predict_video

    recall, labels, scores = [], [], []
    seq = model.cfg.window_s
    for vid in sorted(v for v in truth if v != "missing"):
        rows = truth[vid]
        video = np.load(ws.dataset / "features" / "s3d" / f"{vid}.mp4.npy")
        text = load_text_features(ws, [r[3] for r in rows])
        vlen, k = len(video), len(rows)
        aligned = np.array([r[0] for r in rows], bool)
        mid = np.array([(r[1] + r[2]) / 2 for r in rows])
        sim, counter = np.zeros((k, vlen)), np.zeros((k, vlen))
        logit, text_counter = np.zeros(k), np.zeros(k)
        steps = np.arange(0, vlen - seq // 2, seq // 4)
        for idx, t0 in enumerate(steps):
            candidates = [
                j for j in range(k) if not aligned[j] and t0 - seq <= mid[j] <= t0 + 2 * seq
            ]
            if not candidates:
                continue
            left, right = min(candidates), max(candidates)
            if idx <= 3:
                left = 0
            elif idx >= len(steps) - 4:
                right = k
            active = list(range(left, min(right, k - 1) + 1))
            t1 = min(vlen, t0 + seq)
            out = predict_video(model, [video[t0:t1]], text[active], np.zeros(len(active)),
                                np.zeros(len(active)), mode="global")  # fmt: skip
            for n, j in enumerate(active):
                sim[j, t0:t1] += (out.joint_sim[n] + out.dual_sim[n]) / 2
                counter[j, t0:t1] += 1
                logit[j] += math.log(out.head[n] / (1 - out.head[n]))
                text_counter[j] += 1
        sim = sim / np.maximum(counter, 1e-5)
        sim[sim == 0] = -6e4
        prob = np.exp(sim - sim.max(1, keepdims=True))
        prob /= prob.sum(1, keepdims=True)
        for j in np.flatnonzero(aligned):
            recall.append(math.floor(rows[j][1]) <= prob[j].argmax() <= math.ceil(rows[j][2]))
        labels += aligned.tolist()
        scores += (logit / np.maximum(text_counter, 1e-5)).tolist()
    return float(np.mean(recall)), roc_auc(labels, scores), len(labels)


@pytest.mark.slow
def test_cli_scores_a_folder_of_precomputed_features_as_tan_does(benchmark_folder, capsys):
    from aligner.tan.checkpoints import load_checkpoint, stage1_sibling

    ws, ckpt, truth = benchmark_folder
    argv = ["evaluate", str(ws.dataset), "--protocol", "htm-align", "--checkpoint", str(ckpt)]
    assert cli.main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    r_at_1, auc, n = _reference(ws, load_checkpoint(ckpt)[0], truth)
    assert report["r_at_1"] == pytest.approx(r_at_1, abs=1e-12)
    assert report["roc_auc"] == pytest.approx(auc, abs=1e-12)
    r_at_1, auc, _ = _reference(ws, load_checkpoint(stage1_sibling(ckpt))[0], truth)
    assert report["baselines"]["tan_stage1"] == pytest.approx({"r_at_1": r_at_1, "roc_auc": auc})
    assert report["n_sentences"] == report["n_matched"] == n > 20
    assert report["n_videos"] == len(truth) - 1 and report["n_windows"] > report["n_videos"]
    assert len(report["failed"]) == 1 and "missing" in report["failed"][0]
    assert "features/s3d" in report["failed"][0]  # names the file that is not there
    assert set(report["variants"]) == {"joint", "dual", "max_sim"}
    assert cli.main(argv) == 0
    table = capsys.readouterr().out
    assert "TAN (fused sim, joint head)" in table and f"{100 * report['r_at_1']:.1f}" in table
    assert "TAN before co-training" in table


def test_cli_htm_align_refuses_stored_run_options(tmp_path, capsys):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "htm_align.json").write_text(json.dumps(FIXTURE))
    argv = ["evaluate", str(tmp_path), "--protocol", "htm-align", "--run", "abc"]
    assert cli.main(argv) == 1
    assert "no --run" in capsys.readouterr().err
    assert cli.main(["evaluate", str(tmp_path), "--protocol", "htm-align",
                     "--checkpoint", str(tmp_path / "nope.pt")]) == 1  # fmt: skip
    assert "nope.pt: checkpoint not found" in capsys.readouterr().err


@pytest.mark.slow
def test_raw_videos_go_through_the_same_protocol_as_precomputed_features(tmp_path, one_thread):
    """Two committed sample videos (no ingest): the builtin features the protocol decodes, saved
    as precomputed features, give the same numbers with the same weights."""
    import shutil

    import torch

    from aligner.evaluate import normalise_text
    from aligner.features import builtin
    from aligner.htm_align import VideoFeatures, run_benchmark
    from aligner.tan.checkpoints import save_checkpoint
    from aligner.tan.config import FeatureSpec, TANConfig
    from aligner.tan.model import build_model
    from aligner.workspace import open_workspace
    from tests.conftest import SAMPLE

    videos = ["A482RuKt9sO", "SOGqtceblZO"]
    sample = json.loads((SAMPLE / "annotations" / "htm_align.json").read_text())
    (tmp_path / "videos").mkdir()
    (tmp_path / "annotations").mkdir()
    for vid in videos:
        shutil.copy(SAMPLE / "videos" / f"{vid}.mp4", tmp_path / "videos" / f"{vid}.mp4")
    real_style = {v: [[a, s, e, normalise_text(t)] for a, s, e, t in sample[v]] for v in videos}
    (tmp_path / "annotations" / "htm_align.json").write_text(json.dumps(real_style))
    ws = open_workspace(tmp_path)
    torch.manual_seed(0)
    cfg = TANConfig(width=32, joint_layers=1, dual_layers=1, heads=2, members=1)
    model = build_model(cfg, FeatureSpec(("builtin",), (builtin.DIM,), "minilm", 384)).eval()
    raw = run_benchmark(ws, checkpoint=save_checkpoint(model, tmp_path / "raw.pt"), progress=False)
    assert (raw["n_videos"], raw["failed"]) == (2, []) and raw["n_windows"] >= 4
    (tmp_path / "features" / "copy").mkdir(parents=True)
    decoded = VideoFeatures(ws, ["builtin"])
    for vid, seconds in zip(videos, (62, 87), strict=True):
        (array,) = decoded.load(vid)  # from the feature cache the benchmark filled
        assert array.shape == (seconds, builtin.DIM)
        np.save(tmp_path / "features" / "copy" / f"{vid}.mp4.npy", array)
    copy = build_model(cfg, FeatureSpec(("precomputed:copy",), (builtin.DIM,), "minilm", 384))
    copy.load_state_dict(model.state_dict())
    same = run_benchmark(ws, checkpoint=save_checkpoint(copy, tmp_path / "copy.pt"), progress=False)
    for key in ("r_at_1", "roc_auc", "n_sentences", "n_windows", "variants"):
        assert same[key] == raw[key]


def test_unreadable_feature_files_name_themselves(tmp_path):
    from aligner.errors import AlignerError, InputError
    from aligner.htm_align import VideoFeatures
    from aligner.workspace import open_workspace

    folder = tmp_path / "features" / "s3d"
    folder.mkdir(parents=True)
    (folder / "bad.mp4.npy").write_bytes(b"\x93NUMPY garbage")
    np.save(folder / "flat.mp4.npy", np.zeros(5, np.float32))
    np.save(folder / "ok.mp4.npy", np.ones((7, 3), np.float16))
    source = VideoFeatures(open_workspace(tmp_path), ["precomputed:s3d"])
    assert source.load("ok")[0].shape == (7, 3) and source.load("ok")[0].dtype == np.float32
    with pytest.raises(InputError, match=r"bad\.mp4\.npy: not a readable \.npy array"):
        source.load("bad")
    with pytest.raises(InputError, match=r"flat\.mp4\.npy: expected a 2-D"):
        source.load("flat")
    with pytest.raises(InputError, match="no precomputed precomputed:s3d features for video gone"):
        source.load("gone")
    with pytest.raises(AlignerError, match="gone: no video file under"):
        VideoFeatures(open_workspace(tmp_path), ["builtin"]).load("gone")
