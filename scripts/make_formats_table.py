"""Write docs/formats.md: what healthcnn.io makes of every file pydicom and nibabel ship as
test data (both come with the installed packages; nothing is downloaded).

Run from the project root with the project's environment (the ``medical`` extra installed)::

    .venv/bin/python scripts/make_formats_table.py            # writes docs/formats.md
    .venv/bin/python scripts/make_formats_table.py --check    # exit 1 if the file is stale

Each row is one ``healthcnn.io.read`` of the file: the transfer syntax, photometric
interpretation and frame count from its header, the result (shape, dtype and the steps applied,
or the one-line reason it was refused) and the decoder that produced the pixels.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import nibabel
import pydicom
from pydicom.data import get_testdata_file

from _generated_doc import run
from healthcnn import io
from healthcnn.io.window import WINDOW_PRESETS

OUT = Path(__file__).resolve().parent.parent / "docs" / "formats.md"
PYDICOM_DATA = Path(get_testdata_file("CT_small.dcm")).parent
NIBABEL_DATA = Path(nibabel.__file__).parent / "tests" / "data"
NIBABEL_SUFFIXES = (".dcm", ".nii", ".nii.gz", ".mgz", ".mnc", ".hdr")
#: a refusal's reason is cut after this many characters (decoders' messages can be long)
REASON_CHARS = 160

INTRO = """# Medical file formats

`healthcnn.io.read(path, window=None)` reads a DICOM file (single or multi-frame), a folder
holding one DICOM series, or a NIfTI `.nii` / `.nii.gz` volume into a `MedicalImage`:

- `array`: channels first, `(C, rows, columns)` for an image, `(C, slices, rows, columns)` for a
  volume. Greyscale DICOM values are float32 modality values (Hounsfield units for CT) unless a
  window is asked for; colour stays in its stored dtype, as RGB.
- `affine`: voxel index (array order) -> millimetres in the **LPS** patient frame (+x left, +y
  posterior, +z superior), DICOM's own frame. NIfTI affines (RAS, sform or qform as nibabel
  chooses) are converted explicitly: `LPS = diag(-1, -1, 1) @ RAS`. `None` when the file gives
  no patient geometry (secondary captures, photographs).
- Volumes are reoriented (axes permuted and flipped, never resampled) so that slices run
  inferior -> superior, rows anterior -> posterior and columns right -> left (`SPL`, the way an
  axial CT is stored and displayed); a 2D image is kept as stored.
- `spacing`: mm per spatial axis in array order (DICOM PixelSpacing and the slice step; NIfTI
  pixdim, permuted with the axes).
- `steps`: what was done, in order: `decode` (transfer syntax, decoder), `rescale` (slope and
  intercept, per frame from the functional groups when present, per slice in a series),
  `stack`, `sort_frames`, `window`, `invert` (MONOCHROME1), `colour` (YBR -> RGB), `palette`,
  `frame` (RAS -> LPS), `reorient`.

The order is fixed: Modality LUT (rescale) first, then the window (VOI), then the MONOCHROME1
inversion. A series folder is sorted by ImagePositionPatient projected on the slice normal
(never by file name or InstanceNumber) and refused when it mixes series or orientations, misses
a slice, or has uneven spacing (more than 1% off). A compressed file whose decoder is not
installed is refused with the `pip install` line that fixes it (`pip install
'healthcnn[medical]'` installs pydicom, nibabel, pylibjpeg, pylibjpeg-libjpeg and
pylibjpeg-openjpeg). Every refusal is a `MedicalFormatError` (a `ValueError`) naming the file
and the problem; `healthcnn inspect` prints it as one line and exits with code 2.

`healthcnn inspect PATH [--window W] [--format json] [--save-npy OUT]` prints the shape,
spacing, orientation and steps. Patient-identifying tags (name, ID, birth date, accession
number, UIDs) are never printed unless `--show-tags` is given.

## In the pipeline

An image CSV (`path`, `label`, optional `split`, `group`) may list DICOM files, DICOM series
folders or NIfTI volumes instead of pictures, with optional `window` and `spacing` columns (one
value for every row: a preset, `file` or `"CENTRE,WIDTH"`; mm per axis such as `"2,1,1"`).
`healthcnn train --data files.csv` reads each file once, maps windowed values `v` in `[0, 1]` to
`round(255 v)` (values without a window must already be whole numbers in 0..255), and either
resizes to `--size` on every spatial axis (linear interpolation) or, with `spacing`, resamples
to that voxel size (linear interpolation, the affine updated) and centres the result in
`--size` (cut evenly or zero-padded). The window, the orientation (`SPL` for volumes) and the
spacing go into the bundle's preprocessing record, and `healthcnn predict BUNDLE
scan.dcm|series_dir|scan.nii.gz` repeats exactly that from the record (the same function does
it at both ends).

All of AdrenalMNIST3D went through this path (`scripts/check_adrenal_files.py`, run by hand on
2026-12-06): its 1,584 volumes written as NIfTI files and as DICOM series (101,376 slices) by
the test helpers, each set trained with `healthcnn train --data files.csv` (simple_cnn, one
epoch, fp32, seed 1, 2 CPU cores) and the npz trained the same way. Test AUC 0.877160 and
accuracy 0.805369 all three times, equal to six decimals (301 s from the npz, 305 s from NIfTI,
444 s from the DICOM series); `predict` on the first test series gives the npz run's
probabilities to every printed digit (0.4942018985748291, 0.5057981014251709). The test suite
repeats the comparison on 16 of the volumes.

## Windows

A window maps `[centre - width/2, centre + width/2]` linearly onto `[0, 1]` and clips outside
it. `window=` takes a preset (in Hounsfield units, refused for a DICOM whose modality is not
CT), `"file"` (the DICOM's own first WindowCenter/WindowWidth; a file whose window is only a
VOI LUT table gets the table, its output scaled to `[0, 1]`) or `(centre, width)` (on the
command line `C,W`).

| preset | centre (HU) | width (HU) |
|---|---:|---:|
"""

TWINS = """
## Twins and tolerances

`tests/io/test_io_conformance.py` reads every pydicom file with an uncompressed twin: the
lossless transfer syntaxes (RLE, JPEG lossless, JPEG-LS lossless, JPEG 2000 lossless, big
endian, implicit VR) decode to exactly the same array; the lossy ones stay within tolerances
written down there per pair (for the 8-bit RGB test image: largest absolute difference 2 for
JPEG-LS near-lossless, 6 for JPEG baseline at normal quality, 77 with a mean of at most 3 at the
lowest quality settings). YBR is converted to RGB by healthcnn and checked against pydicom's own
conversion (at most 1 grey level apart). nibabel's volumes are checked voxel by voxel: every
voxel keeps its value at its world position after the frame change and the reorientation.
`tests/io/test_io_geometry.py` writes an oblique CT series with pydicom (per-slice rescale,
shuffled file names and InstanceNumbers) and its NIfTI twin with nibabel; both read to the
expected array and to an affine within 1e-4 mm.

## What the test files read to

Two of pydicom's files are refused by every decoder installed here. `python-gdcm` 3.2.6 was
also tried on them (2026-12-06) and decodes neither: pydicom's GDCM plugin does not take 12-bit
JPEG Extended (`JPEG-lossy.dcm`), and the JPEG 2000 codestream of
`JPEG2000-embedded-sequence-delimiter.dcm` is malformed for GDCM, Pillow and OpenJPEG alike;
so GDCM is not among the dependencies.
"""


def _header(path: Path) -> tuple[str, str, str]:
    if path.name.lower().endswith((".nii", ".nii.gz")):
        try:
            img = nibabel.load(path)
        except Exception:
            return "NIfTI (unreadable)", "-", "-"
        kind = type(img).__name__.replace("Image", "")
        return kind, "-", "x".join(map(str, img.shape[3:])) or "1"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:
        return "-", "-", "-"
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    syntax = uid.name if uid is not None else "-"
    return syntax, str(ds.get("PhotometricInterpretation", "-")), str(ds.get("NumberOfFrames", 1))


def _result(path: Path) -> tuple[str, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = io.read(path)
    except (io.MedicalFormatError, ValueError) as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        if len(reason) > REASON_CHARS:
            reason = reason[: REASON_CHARS - 3] + "..."
        return f"refused: {reason}", "-"
    shape = "x".join(map(str, image.array.shape))
    steps = [s.name for s in image.steps if s.name != "decode"]
    decoder = next((s.detail["decoder"] for s in image.steps if s.name == "decode"), "nibabel")
    text = f"{shape} {image.array.dtype}" + (f"; {', '.join(steps)}" if steps else "")
    return text, decoder


def _rows(label: str, folder: Path, names: list[str]) -> list[str]:
    rows = []
    for name in names:
        path = folder / name
        syntax, photometric, frames = _header(path)
        result, decoder = _result(path)
        cells = [f"{label}: `{name}`", syntax, photometric, frames, result, decoder]
        rows.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return rows


def build() -> str:
    lines = [INTRO.rstrip("\n")]
    lines += [f"| {name} | {c:g} | {w:g} |" for name, (c, w) in WINDOW_PRESETS.items()]
    lines += [TWINS.rstrip("\n"), ""]
    lines.append("| file | transfer syntax | photometric | frames | result | decoder |")
    lines.append("|---|---|---|---:|---|---|")
    dicom = sorted(p.name for p in PYDICOM_DATA.iterdir() if p.name.endswith(".dcm"))
    lines += _rows("pydicom", PYDICOM_DATA, dicom)
    nib = sorted(p.name for p in NIBABEL_DATA.iterdir() if p.name.endswith(NIBABEL_SUFFIXES))
    lines += _rows("nibabel", NIBABEL_DATA, nib)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    return run(build, OUT, "make_formats_table.py", __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
