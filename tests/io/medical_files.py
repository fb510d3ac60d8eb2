"""Writers of small DICOM and NIfTI files for the io tests (pydicom and nibabel write them; the
expected values are computed here from the numbers the files were made from)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: identifying values the privacy tests look for in every output
PATIENT = {
    "PatientName": "Doe^Jane",
    "PatientID": "PID-4711-XYZ",
    "PatientBirthDate": "19510304",
    "AccessionNumber": "ACC-99812",
}
STUDY_UID = "1.2.826.0.1.3680043.8.498.11111111111111111111"


def rotation(ax: float, ay: float, az: float) -> np.ndarray:
    """A rotation matrix from angles in degrees about x, then y, then z."""
    a, b, c = np.radians([ax, ay, az])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def base_dataset(rows: int, columns: int, *, modality: str = "CT", series: str = "1.2.3.4"):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = series
    ds.Modality = modality
    for key, value in PATIENT.items():
        setattr(ds, key, value)
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1
    return ds


def save(ds, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def write_slice(path: Path, stored: np.ndarray, **tags) -> Path:
    """One single-frame greyscale slice with the given stored values and tags."""
    ds = base_dataset(*stored.shape, modality=tags.pop("Modality", "CT"))
    if stored.dtype == np.uint16:
        ds.PixelRepresentation = 0
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = np.ascontiguousarray(stored).tobytes()
    return save(ds, path)


def ct_series(
    folder: Path,
    hu: np.ndarray,
    *,
    rot: np.ndarray,
    origin: Sequence[float],
    spacing: Sequence[float],
    slopes: Sequence[float],
    intercept: float = -1024.0,
    seed: int = 0,
    series: str = "1.2.3.4",
    skip: Sequence[int] = (),
) -> np.ndarray:
    """Write ``hu`` ``(slices, rows, columns)`` as a series: slice k at origin + k * dz * normal,
    per-slice slope, file names and InstanceNumbers shuffled. Returns the LPS affine of
    (slice, row, column) indices."""
    folder.mkdir(parents=True, exist_ok=True)
    dz, dr, dc = spacing
    row_dir, col_dir, normal = rot[:, 0], rot[:, 1], rot[:, 2]
    rng = np.random.default_rng(seed)
    names = rng.permutation(len(hu)) * 7 + 3
    numbers = rng.permutation(len(hu)) + 1
    for k in range(len(hu)):
        if k in skip:
            continue
        slope = float(slopes[k])
        stored = np.rint((hu[k] - intercept) / slope).astype(np.int16)
        assert np.array_equal(stored * slope + intercept, hu[k]), "choose HU the slope can hold"
        position = np.asarray(origin) + k * dz * normal
        write_slice(
            folder / f"IM{names[k]:05d}.dcm",
            stored,
            SeriesInstanceUID=series,
            InstanceNumber=int(numbers[k]),
            ImageOrientationPatient=[f"{v:.10f}" for v in (*row_dir, *col_dir)],
            ImagePositionPatient=[f"{v:.10f}" for v in position],
            PixelSpacing=[dr, dc],
            SliceThickness=dz,
            RescaleSlope=slope,
            RescaleIntercept=intercept,
        )
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = normal * dz, col_dir * dr, row_dir * dc
    affine[:3, 3] = origin
    return affine


def write_nifti(path: Path, volume: np.ndarray, affine_lps: np.ndarray) -> Path:
    """The same (slice, row, column) volume as NIfTI: data indexed (column, row, slice) and
    the affine converted to RAS, as a converter would write it."""
    import nibabel

    data = np.ascontiguousarray(volume.transpose(2, 1, 0))
    cols = affine_lps[:, [2, 1, 0, 3]]
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ cols
    nibabel.save(nibabel.Nifti1Image(data, ras), path)
    return path


def hu_volume(shape: Sequence[int], slopes: Sequence[float], seed: int = 1) -> np.ndarray:
    """HU values each slice's slope represents exactly."""
    rng = np.random.default_rng(seed)
    stored = rng.integers(0, 3000, size=shape)
    return np.stack([stored[k] * slopes[k] - 1024.0 for k in range(shape[0])])


#: (slice, row, column) -> LPS: slices superior, rows posterior, columns left (SPL), 1 mm
SPL = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)


def write_twins(root: Path, name: str, volume: np.ndarray) -> None:
    """A uint8 (slice, row, column) volume as ``name.nii.gz`` and as the DICOM series
    ``name/`` (slope 1, 1 mm, SPL): the same voxels twice."""
    write_nifti(root / f"{name}.nii.gz", volume, SPL)
    ct_series(
        root / name,
        volume.astype(float),
        rot=np.eye(3),
        origin=(0, 0, 0),
        spacing=(1, 1, 1),
        slopes=[1.0] * len(volume),
    )


def write_twin_csvs(root: Path, rows: Sequence[tuple[str, int, str]]) -> None:
    """``series.csv`` and ``nifti.csv`` listing the twins of ``rows`` (name, label, split)."""
    import csv

    for kind, suffix in (("series", ""), ("nifti", ".nii.gz")):
        with open(root / f"{kind}.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "label", "split"])
            writer.writerows((name + suffix, y, split) for name, y, split in rows)
