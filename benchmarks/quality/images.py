"""Natural images that ship inside installed packages (no download): the things the quality
suite's videos show, the talking heads, and the workspaces objects are put on.

scikit-image `skimage/data/`, scikit-learn `sklearn/datasets/images/`, matplotlib
`mpl-data/sample_data/`. Files are located through the packages' install folders without
importing them (scikit-image's import is slow and only its data files are needed).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

LIBRARY_SIDE = 320  # pixels: images are kept at this longest side (videos are smaller)


@dataclass(frozen=True)
class Thing:
    """One photographed object: its file and the noun phrases narration uses for it."""

    name: str
    package: str  # "skimage" | "sklearn" | "matplotlib"
    file: str  # relative to the package's data folder
    nouns: tuple[str, ...]


THINGS: tuple[Thing, ...] = (
    Thing("astronaut", "skimage", "astronaut.png", ("astronaut", "astronaut in the white suit")),
    Thing("coffee", "skimage", "coffee.png", ("cup of coffee", "coffee cup")),
    Thing("cat", "skimage", "chelsea.png", ("cat", "ginger cat")),
    Thing("rocket", "skimage", "rocket.jpg", ("rocket", "rocket on the launch pad")),
    Thing("horse", "skimage", "horse.png", ("horse", "horse silhouette")),
    Thing("motorcycle", "skimage", "motorcycle_left.png", ("motorcycle", "red motorbike")),
    Thing("coins", "skimage", "coins.png", ("coins", "old coins")),
    Thing("cameraman", "skimage", "camera.png", ("cameraman", "man with the camera")),
    Thing("moon", "skimage", "moon.png", ("moon surface", "craters of the moon")),
    Thing("galaxies", "skimage", "hubble_deep_field.jpg", ("galaxies", "deep field of stars")),
    Thing("clock", "skimage", "clock_motion.png", ("clock", "wall clock")),
    Thing("page", "skimage", "page.png", ("printed page", "page of the old book")),
    Thing("cells", "skimage", "cell.png", ("cell sample", "cells under the microscope")),
    Thing("retina", "skimage", "retina.jpg", ("retina scan", "photo of the eye")),
    Thing("tissue", "skimage", "ihc.png", ("stained tissue", "tissue slide")),
    Thing("chessboard", "skimage", "chessboard_RGB.png", ("chessboard", "chess board")),
    Thing("colours", "skimage", "color.png", ("colour chart", "colour swatches")),
    Thing("logo", "skimage", "logo.png", ("logo", "snake logo")),
    Thing("text", "skimage", "text.png", ("handwritten letters", "text sample")),
    Thing("temple", "sklearn", "china.jpg", ("temple", "old chinese temple")),
    Thing("flower", "sklearn", "flower.jpg", ("flower", "pink flower")),
    Thing("hopper", "matplotlib", "grace_hopper.jpg", ("portrait of grace hopper", "admiral")),
    Thing("present", "matplotlib", "Minduka_Present_Blue_Pack.png", ("blue present", "gift box")),
)
WORKSPACES = ("brick.png", "grass.png", "gravel.png")  # skimage textures objects are put on
FACES_FILE = "lfw_subset.npy"  # skimage: 100 grey faces + 100 non-faces, 25 x 25


def _data_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the quality suite needs {package} installed (for its sample images)")
    root = Path(spec.origin).parent
    sub = {"skimage": "data", "sklearn": "datasets/images", "matplotlib": "mpl-data/sample_data"}
    return root / sub[package]


def _read(path: Path) -> np.ndarray:
    """RGB uint8 image, longest side `LIBRARY_SIDE`."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise RuntimeError(f"{path}: cannot read image")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    scale = LIBRARY_SIDE / max(img.shape[:2])
    size = (max(2, round(img.shape[1] * scale)), max(2, round(img.shape[0] * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


@lru_cache(maxsize=1)
def things() -> dict[str, np.ndarray]:
    """name -> RGB image of every `Thing`."""
    return {t.name: _read(_data_dir(t.package) / t.file) for t in THINGS}


@lru_cache(maxsize=1)
def workspaces() -> list[np.ndarray]:
    return [_read(_data_dir("skimage") / name) for name in WORKSPACES]


@lru_cache(maxsize=1)
def faces() -> np.ndarray:
    """(100, 25, 25) float grey faces in [0, 1] (the talking heads): the file's first 100
    images are faces, the other 100 are not."""
    return np.load(_data_dir("skimage") / FACES_FILE)[:100].astype(np.float32)


THING_BY_NAME = {t.name: t for t in THINGS}
