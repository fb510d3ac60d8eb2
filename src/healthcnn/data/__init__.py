"""Datasets: the data root and checksummed downloads, MedMNIST and image-folder loaders,
group-level splits, batch transforms, the in-memory batch iterator the Trainer consumes, and the
DataLoader path for any other torch Dataset (streamed image folders included)."""

from .arrays import ArrayDataset, balanced_sample_weights, iterate_batches
from .catalog import CATALOG, DatasetInfo, RemoteFile, get_dataset, list_datasets
from .image_stream import ImageFileDataset
from .images import load_image_csv
from .loaders import EpochBatchSampler, seed_worker
from .medmnist import load_medmnist, load_medmnist_splits
from .root import ChecksumError, DataError, data_root, download, verify_file
from .splits import group_kfold, group_split
from .transforms import build_augment
from .validate import check_split_shapes, image_array, validate_arrays

__all__ = [
    "CATALOG",
    "ArrayDataset",
    "ChecksumError",
    "DataError",
    "DatasetInfo",
    "EpochBatchSampler",
    "ImageFileDataset",
    "RemoteFile",
    "balanced_sample_weights",
    "build_augment",
    "check_split_shapes",
    "data_root",
    "download",
    "get_dataset",
    "group_kfold",
    "group_split",
    "image_array",
    "iterate_batches",
    "list_datasets",
    "load_image_csv",
    "load_medmnist",
    "load_medmnist_splits",
    "seed_worker",
    "validate_arrays",
    "verify_file",
]
