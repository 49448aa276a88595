"""Evaluation: deterministic sampling into metrics (clean-fid FID, precision/recall, demo metrics)."""
from .demo_metrics import fd_pixels, w2_pixels
from .evaluate import evaluate
from .fid import FeatureExtractor, cleanfid_features, feature_stats, frechet_distance, inception_extractor
from .grid import save_grid
from .precision_recall import pr_extractor, precision_recall
from .refstats import RefStats, load_stats, reference_stats
from .sample import jpeg_roundtrip, sample_batches, sample_seed, to_uint8

__all__ = ["evaluate", "frechet_distance", "feature_stats", "cleanfid_features", "inception_extractor",
           "FeatureExtractor", "reference_stats", "load_stats", "RefStats", "precision_recall",
           "pr_extractor", "w2_pixels", "fd_pixels", "sample_batches", "sample_seed", "to_uint8",
           "jpeg_roundtrip", "save_grid"]
