"""Rows the papers print that are not ours to reproduce ("paper only" in the tables).

They are data, not recipes, so they live here and not under gin/; only the tables read them.
Numbers are as printed (the iCT authors' ImageNet 64x64 results and sLCT Table 1); None is '–'.
Epochs are kept as printed strings ('6.2K'), because the papers round them.
The iCT CIFAR-10 reference rows were not checked against the paper's text and are left out.
Placement works as for our rows (repro.specs.Claim): `section` and `order` put a paper row in
its table, and within a section the paper rows come first, in the order listed here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

ICT_POSTER = "iCT poster, ImageNet 64x64 table"
SLCT_T1 = "sLCT Table 1"


@dataclass(frozen=True)
class PaperRow:
    id: str                          # ref/<paper>/<table>/<method slug>[/nfeN]
    paper: str                       # 'iCT' | 'sLCT'
    table: str                       # same values as repro.specs.Claim.table
    dataset: str                     # 'imagenet64' | 'celebahq' | 'lsun' | 'ffhq'
    group: str                       # the paper's section heading inside the table
    method: str
    nfe: int
    fid: Optional[float] = None
    precision: Optional[float] = None
    recall: Optional[float] = None
    epochs: Optional[str] = None
    batch: Optional[int] = None
    source: str = ""
    notes: str = ""
    confirmed: bool = True
    section: str = ""                # as Claim.section of the rows beside it
    order: int = 0                   # as Claim.order: where the section sits in the table


def _ict(slug, group, method, nfe, fid, p=None, r=None):
    return PaperRow(id=f"ref/ict/imagenet64/{slug}/nfe{nfe}", paper="iCT", table="imagenet64",
                    dataset="imagenet64", group=group, method=method, nfe=nfe, fid=fid,
                    precision=p, recall=r, source=ICT_POSTER)


# sLCT Table 1's sections: the same Claim.section / Claim.order as the gin rows of the dataset
T1_SECTIONS = {"celebahq": ("CelebA-HQ 256", 10), "lsun": ("LSUN Church 256", 20),
               "ffhq": ("FFHQ 256", 30)}


def _t1(dataset, slug, group, method, nfe, fid, recall, epochs, batch, notes=""):
    section, order = T1_SECTIONS[dataset]
    return PaperRow(id=f"ref/slct/t1/{dataset}/{slug}", paper="sLCT", table="1",
                    dataset=dataset, group=group, method=method, nfe=nfe, fid=fid,
                    recall=recall, epochs=epochs, batch=batch,
                    source=f"{SLCT_T1} ({dataset})", notes=notes, section=section, order=order)


DISTILL = "Fast samplers & distillation"
DIRECT = "Direct generation"
PIXEL = "Pixel diffusion"
LATENT = "Latent diffusion"
# the sLCT paper prints the LSUN WaveDiff / Score SDE rows with exactly the CelebA-HQ numbers
DUP = "printed identical to the CelebA-HQ row (likely a copy-paste slip in the paper); kept as printed"

PAPER_ROWS: list[PaperRow] = [
    # iCT, ImageNet 64x64 (the authors' poster), in the poster's order
    _ict("diff-instruct", DISTILL, "Diff-Instruct", 1, 5.57),
    _ict("pd-star", DISTILL, "PD*", 1, 15.39, 0.59, 0.62),
    _ict("pd-star", DISTILL, "PD*", 2, 8.95, 0.63, 0.65),
    _ict("pd-star", DISTILL, "PD*", 4, 6.77, 0.66, 0.65),
    _ict("pd-lpips", DISTILL, "PD (LPIPS)", 1, 7.88, 0.66, 0.63),
    _ict("pd-lpips", DISTILL, "PD (LPIPS)", 2, 5.74, 0.67, 0.65),
    _ict("pd-lpips", DISTILL, "PD (LPIPS)", 4, 4.92, 0.68, 0.65),
    _ict("cd-lpips", DISTILL, "CD (LPIPS)", 1, 6.20, 0.68, 0.63),
    _ict("cd-lpips", DISTILL, "CD (LPIPS)", 2, 4.70, 0.69, 0.64),
    _ict("cd-lpips", DISTILL, "CD (LPIPS)", 3, 4.32, 0.70, 0.64),
    _ict("rin", DIRECT, "RIN", 1000, 1.23),
    _ict("ddpm", DIRECT, "DDPM", 250, 11.0, 0.67, 0.58),
    _ict("iddpm", DIRECT, "iDDPM", 250, 2.92, 0.74, 0.62),
    _ict("adm", DIRECT, "ADM", 250, 2.07, 0.74, 0.63),
    _ict("edm", DIRECT, "EDM", 511, 1.36),
    _ict("edm-star-heun", DIRECT, "EDM* (Heun)", 79, 2.44, 0.71, 0.67),
    _ict("biggan-deep", DIRECT, "BigGAN-deep", 1, 4.06, 0.79, 0.48),
    _ict("ct-lpips", DIRECT, "CT (LPIPS)", 1, 13.0, 0.71, 0.47),
    _ict("ct-lpips", DIRECT, "CT (LPIPS)", 2, 11.1, 0.69, 0.56),
    # sLCT Table 1: method, NFE, FID, recall, epochs, batch
    _t1("celebahq", "wavediff", PIXEL, "WaveDiff", 2, 5.94, 0.37, "500", 64),
    _t1("celebahq", "score-sde", PIXEL, "Score SDE", 4000, 7.23, None, "6.2K", None),
    _t1("celebahq", "ddgan", PIXEL, "DDGAN", 2, 7.64, 0.36, "800", 32),
    _t1("celebahq", "rduot", PIXEL, "RDUOT", 2, 5.60, 0.38, "600", 24),
    _t1("celebahq", "rdm", PIXEL, "RDM", 270, 3.15, 0.55, "4K", None),
    _t1("celebahq", "uncsnpp", PIXEL, "UNCSN++", 2000, 7.16, None, None, None),
    _t1("celebahq", "lfm-8", LATENT, "LFM-8", 85, 5.82, 0.41, "500", 112),
    _t1("celebahq", "ldm-4", LATENT, "LDM-4", 200, 5.11, 0.49, "600", 48),
    _t1("celebahq", "lsgm", LATENT, "LSGM", 23, 7.22, None, "1K", None),
    _t1("celebahq", "ddmi", LATENT, "DDMI", 1000, 7.25, None, None, None),
    _t1("celebahq", "dimsum", LATENT, "DIMSUM", 73, 3.76, 0.56, "395", 32),
    _t1("lsun", "wavediff", PIXEL, "WaveDiff", 2, 5.94, 0.37, "500", 64, notes=DUP),
    _t1("lsun", "score-sde", PIXEL, "Score SDE", 4000, 7.23, None, "6.2K", None, notes=DUP),
    _t1("lsun", "ddgan", PIXEL, "DDGAN", 2, 5.25, 0.36, "500", 32),
    _t1("lsun", "lfm-8", LATENT, "LFM-8", 90, 7.70, 0.39, "90", 112),
    _t1("lsun", "ldm-8", LATENT, "LDM-8", 400, 4.02, 0.52, "400", 96),
    _t1("ffhq", "lfm-8", LATENT, "LFM-8", 84, 8.07, 0.40, "700", 128),
    _t1("ffhq", "ldm-4", LATENT, "LDM-4", 200, 4.98, 0.50, "400", 42),
]

BY_ID = {r.id: r for r in PAPER_ROWS}
assert len(BY_ID) == len(PAPER_ROWS), "paper row ids must be unique"
