"""What each real dataset should look like once prepared.

`expected_counts` are the sizes of the full public releases (and of the split the sLCT code
used; docs/FIDELITY.md). A source with another count is refused unless the caller allows a
non-standard source (tests, subsets); the manifest then records `standard: false` so nobody
mistakes a subset for the paper's data.
"""
from __future__ import annotations

from dataclasses import dataclass

# Official md5 of each CIFAR-10 python batch, as published with the archive
# (https://www.cs.toronto.edu/~kriz/cifar.html; the same values torchvision checks).
CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    resolution: int
    kind: str                    # reader: 'cifar10' | 'imagenet64' | 'folder' | 'lsun'
    expected_counts: tuple       # counts that make a source "standard"
    num_classes: int = 0
    crop: bool = False           # center-crop + resize arbitrary sizes (LSUN practice)
    note: str = ""


DATASETS = {
    "cifar10": DatasetInfo("cifar10", 32, "cifar10", (50_000,), num_classes=10,
                           note="cifar-10-batches-py/ (data_batch_1..5)"),
    "imagenet64": DatasetInfo("imagenet64", 64, "imagenet64", (1_281_167,), num_classes=1000,
                              note="Imagenet64_train_npz/ (train_data_batch_1..10.npz)"),
    # 30,000 = the full CelebA-HQ; 27,000 = the train split the sLCT code reports.
    "celebahq256": DatasetInfo("celebahq256", 256, "folder", (30_000, 27_000),
                               note="folder of 256x256 RGB PNG/JPG"),
    "ffhq256": DatasetInfo("ffhq256", 256, "folder", (70_000,),
                           note="folder of 256x256 RGB PNG/JPG"),
    # 126,227 = church_outdoor_train_lmdb; 120,000 = the subset the sLCT code used.
    "lsun_church256": DatasetInfo("lsun_church256", 256, "lsun", (126_227, 120_000), crop=True,
                                  note="church_outdoor_train_lmdb/ (or a folder of images)"),
}


def info(name: str) -> DatasetInfo:
    from repro.io import ReproError
    if name not in DATASETS:
        raise ReproError(f"dataset {name!r}: unknown; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]
