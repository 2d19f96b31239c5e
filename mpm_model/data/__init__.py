"""Data pipeline: shared mocap npz, virtual cameras, augmentation, occlusion, windows, dataset loaders.

Submodules: `mocap` (canonical npz reader/writer, splits, resampling), `camera`, `augment`,
`occlusion`, `windows` (torch Datasets), `synthetic` (procedural test motion), `h36m`
(VideoPose3D files), `mpi3dhp` (P-STMO 3DHP files).
"""
from mpm_model.data.mocap import (DEFAULT_FPS, MocapSequence, dataset_hash, load_mocap, resample, split_by_subject,
                                  write_mocap)

__all__ = ["DEFAULT_FPS", "MocapSequence", "dataset_hash", "load_mocap", "resample", "split_by_subject", "write_mocap"]
