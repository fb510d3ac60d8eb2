"""One DICOM file -> :class:`MedicalImage`: decode (naming the decoder), Modality LUT (rescale
slope/intercept, per frame where the functional groups say so), window, MONOCHROME1 inversion,
YBR -> RGB and palette colour; geometry from the plane tags in LPS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .geometry import plane_affine, spacing_of, stack_affine, stack_order
from .image import MedicalFormatError, MedicalImage, Step, one_line, reorient_volume
from .window import WINDOW_PRESETS, apply_window, parse_window

#: which package decodes which compressed transfer syntax (for the missing-decoder message)
DECODER_PACKAGES = {
    "1.2.840.10008.1.2.4.50": "pylibjpeg pylibjpeg-libjpeg (or pillow)",
    "1.2.840.10008.1.2.4.51": "pylibjpeg pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.57": "pylibjpeg pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.70": "pylibjpeg pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.80": "pylibjpeg pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.81": "pylibjpeg pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.90": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.91": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.201": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.202": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.203": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.5": "pylibjpeg pylibjpeg-rle (pydicom's own RLE decoder needs numpy only)",
}
INSTALL_HINT = "pip install 'healthcnn[medical]'"


def pydicom_module(where: object) -> Any:
    try:
        import pydicom
    except ImportError:
        raise MedicalFormatError(
            where, f"reading DICOM needs the package pydicom: {INSTALL_HINT}"
        ) from None
    return pydicom


def load_dataset(path: Path, *, pixels: bool = True) -> Any:
    """The parsed dataset; a non-DICOM or truncated file is a MedicalFormatError."""
    pydicom = pydicom_module(path)
    try:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=not pixels)
        except pydicom.errors.InvalidDicomError:
            ds = _without_preamble(pydicom, path, pixels)
    except MedicalFormatError:
        raise
    except (EOFError, ValueError, KeyError, TypeError, struct_error()) as exc:
        raise MedicalFormatError(path, f"the DICOM file is damaged or truncated ({exc})") from None
    if pixels:
        present = [k for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData") if k in ds]
        if not present:
            raise MedicalFormatError(path, "the DICOM file has no pixel data (no image in it)")
    return ds


def _without_preamble(pydicom: Any, path: Path, pixels: bool) -> Any:
    """A dataset written without preamble and file meta (older files) is accepted when it
    parses into an image's identifying structure; anything else is not DICOM."""
    not_dicom = MedicalFormatError(
        path,
        "not a DICOM file (no 'DICM' marker after the 128-byte preamble); healthcnn reads "
        "DICOM files and series folders, NIfTI .nii/.nii.gz, PNG/JPEG/TIFF and .npz",
    )
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=not pixels, force=True)
        ok = any(k in ds for k in ("SOPClassUID", "Modality", "PixelData", "StudyInstanceUID"))
    except Exception:
        raise not_dicom from None
    if not ok:
        raise not_dicom
    return ds


def struct_error() -> type[Exception]:
    import struct

    return struct.error


def decode(ds: Any, path: Path) -> tuple[np.ndarray, str, list[Step]]:
    """Stored values, frames first (``(F, H, W)`` or ``(F, H, W, S)``), the photometric
    interpretation they are in, and the steps: decode (naming the decoder used) and any colour
    change the decoder made."""
    from pydicom.pixels import get_decoder

    uid = transfer_syntax(ds, path)
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise MedicalFormatError(
            path, f"no decoder exists for transfer syntax {uid.name}"
        ) from None
    if not decoder.is_available:
        package = DECODER_PACKAGES.get(str(uid), "pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg")
        raise MedicalFormatError(
            path, f"decoding {uid.name} needs a decoder: pip install {package} ({INSTALL_HINT})"
        )
    plugins = ["native"] if uid.is_encapsulated is False else list(decoder.available_plugins)
    errors = []
    for plugin in plugins:
        try:
            arr, meta = decoder.as_array(
                ds, as_rgb=False, decoding_plugin="" if plugin == "native" else plugin
            )
        except Exception as exc:  # a plugin failing is reported with the next one's attempt
            errors.append(one_line(exc))
            continue
        if int(meta.get("number_of_frames") or 1) == 1:
            arr = arr[None]
        step = Step("decode", {"transfer_syntax": uid.name, "decoder": _decoder_name(plugin)})
        decoded = str(meta["photometric_interpretation"])
        return arr, decoded, [step, *_colour_by_decoder(ds, decoded)]
    others = "; ".join(getattr(decoder, "missing_dependencies", []) or [])
    hint = f" (not installed, may decode it: {others})" if others else ""
    reasons = "; ".join(e.removeprefix(_ALL_FAILED).strip() for e in errors)
    raise MedicalFormatError(path, f"the pixel data cannot be decoded{hint}: {reasons}")


_ALL_FAILED = "Unable to decode as exceptions were raised by all available plugins:"


def _colour_by_decoder(ds: Any, decoded: str) -> list[Step]:
    """A decoder that changed the colour space itself (JPEG 2000 RCT/ICT, some JPEG) is a step."""
    stored = str(ds.get("PhotometricInterpretation", decoded))
    return (
        []
        if stored == decoded
        else [Step("colour", {"from": stored, "to": decoded, "by": "decoder"})]
    )


def transfer_syntax(ds: Any, path: Path) -> Any:
    """The file's transfer syntax; for a file without one, the encoding it was parsed with."""
    from pydicom import uid as uids

    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID"):
        return meta.TransferSyntaxUID
    encoding = getattr(ds, "original_encoding", (None, None))
    known = {
        (True, True): uids.ImplicitVRLittleEndian,
        (False, True): uids.ExplicitVRLittleEndian,
        (False, False): uids.ExplicitVRBigEndian,
    }
    if "PixelData" in ds and tuple(encoding) in known and not _encapsulated(ds):
        ds.file_meta = meta if meta is not None else _empty_meta()
        ds.file_meta.TransferSyntaxUID = known[tuple(encoding)]
        return ds.file_meta.TransferSyntaxUID
    raise MedicalFormatError(path, "the file meta has no TransferSyntaxUID")


def _encapsulated(ds: Any) -> bool:
    return bytes(ds.PixelData[:4]) == b"\xfe\xff\x00\xe0"


def _empty_meta() -> Any:
    from pydicom.dataset import FileMetaDataset

    return FileMetaDataset()


def _decoder_name(plugin: str) -> str:
    return "pydicom (native)" if plugin == "native" else plugin


def modality_lut(ds: Any, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, Step]:
    """Rescaled float32 frames, the per-frame slopes and intercepts, and the step."""
    slopes, intercepts, source = rescale_parameters(ds, frames.shape[0])
    if "ModalityLUTSequence" in ds and source == "none":
        from pydicom.pixels import apply_modality_lut

        out = np.stack([apply_modality_lut(f, ds) for f in frames]).astype(np.float32)
        return out, slopes, intercepts, Step("modality_lut", {"source": "ModalityLUTSequence"})
    if source == "none" and "DoseGridScaling" in ds:
        slopes, source = np.full(len(slopes), float(ds.DoseGridScaling)), "DoseGridScaling"
    out = frames.astype(np.float64) * slopes[:, None, None] + intercepts[:, None, None]
    detail: dict[str, Any] = {"source": source}
    if len(set(slopes)) == 1 and len(set(intercepts)) == 1:
        detail.update(slope=float(slopes[0]), intercept=float(intercepts[0]))
    else:
        detail.update(slopes=slopes.tolist(), intercepts=intercepts.tolist())
    return out.astype(np.float32), slopes, intercepts, Step("rescale", detail)


def rescale_parameters(ds: Any, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Slope and intercept per frame: per-frame functional groups, then shared, then the
    top-level RescaleSlope/RescaleIntercept; identity (source ``none``) when absent."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and len(per_frame) == n:
        pairs = [_pvt(item) for item in per_frame]
        if all(p is not None for p in pairs):
            slopes, intercepts = zip(*pairs, strict=True)
            return np.array(slopes), np.array(intercepts), "per-frame functional groups"
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        pair = _pvt(shared[0])
        if pair is not None:
            return np.full(n, pair[0]), np.full(n, pair[1]), "shared functional groups"
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
        return np.full(n, slope), np.full(n, intercept), "RescaleSlope/RescaleIntercept"
    return np.ones(n), np.zeros(n), "none"


def _pvt(item: Any) -> tuple[float, float] | None:
    seq = item.get("PixelValueTransformationSequence")
    if not seq or "RescaleSlope" not in seq[0]:
        return None
    return float(seq[0].RescaleSlope), float(seq[0].get("RescaleIntercept", 0.0))


def file_window(ds: Any, path: Path) -> tuple[float, float, str]:
    """The file's own window (first one when several): top level or the functional groups."""
    for holder in _window_holders(ds):
        if "WindowCenter" in holder and "WindowWidth" in holder:
            centre, width = (_first(holder.WindowCenter), _first(holder.WindowWidth))
            if width > 0:
                return centre, width, "file"
    raise MedicalFormatError(
        path,
        "the file has no window of its own (WindowCenter/WindowWidth); give a preset "
        f"({', '.join(WINDOW_PRESETS)}) or CENTRE,WIDTH",
    )


def _has_window(ds: Any) -> bool:
    return any("WindowCenter" in h and "WindowWidth" in h for h in _window_holders(ds))


def voi_lut_table(values: np.ndarray, ds: Any, path: Path) -> tuple[np.ndarray, Step]:
    """The file's first VOI LUT table (``VOILUTSequence``) on modality values ``(F, H, W)``,
    scaled from the table's output bits to [0, 1]. The lookup is written here because pydicom's
    ``apply_voi`` warns on the float input a rescale gives; a value indexes the table at
    ``floor(value) - first``, clipped to its ends (values below the table take its first entry,
    above it its last, as the standard says). The tests check it against ``apply_voi``."""
    item = ds.VOILUTSequence[0]
    try:
        entries, first, bits = (int(v) for v in item.LUTDescriptor)
        data = np.asarray(item.LUTData, dtype=np.float64).reshape(-1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise MedicalFormatError(path, f"the file's VOI LUT table cannot be read ({exc})") from None
    entries = entries or 65536  # 0 stands for 2^16 entries
    if not 1 <= bits <= 16 or len(data) != entries:
        raise MedicalFormatError(
            path,
            f"the VOI LUT table cannot be applied: {len(data)} entries for a descriptor of "
            f"{entries}, {bits} output bits (1 to 16 are valid)",
        )
    index = np.clip(np.floor(values).astype(np.int64) - first, 0, entries - 1)
    out = np.clip(data[index] / (2.0**bits - 1), 0.0, 1.0).astype(np.float32)
    detail = {"source": "VOILUTSequence", "entries": entries, "first": first, "bits": bits}
    return out, Step("window", detail)


def _window_holders(ds: Any) -> list[Any]:
    holders = [ds]
    for key in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        seq = ds.get(key)
        if seq and seq[0].get("FrameVOILUTSequence"):
            holders.append(seq[0].FrameVOILUTSequence[0])
    return holders


def _first(value: Any) -> float:
    try:
        return float(value[0]) if not isinstance(value, str | bytes) else float(value)
    except TypeError:
        return float(value)


def stored_range(ds: Any) -> tuple[float, float]:
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    return 0.0, 2.0**bits - 1


def intensity_steps(
    values: np.ndarray,
    ds: Any,
    rescaled: tuple[np.ndarray, np.ndarray],
    photometric: str,
    window: tuple[str, tuple[float, float] | None],
    path: Path,
) -> tuple[np.ndarray, list[Step]]:
    """Window (VOI) then MONOCHROME1 inversion, on modality values ``(F, H, W)``."""
    steps = []
    kind, cw = window
    if kind == "file" and _has_window(ds) is False and "VOILUTSequence" in ds:
        values, step = voi_lut_table(values, ds, path)
        steps.append(step)
    elif kind == "file":
        centre, width, source = file_window(ds, path)
        values, step = apply_window(values, centre, width, source)
        steps.append(step)
    elif kind != "none":
        modality = str(ds.get("Modality", "")).upper()
        if kind.startswith("preset:") and modality and modality != "CT":
            raise MedicalFormatError(
                path,
                f"window preset {kind[7:]!r} is in Hounsfield units, but the file's modality is "
                f"{modality}; give CENTRE,WIDTH or 'file'",
            )
        values, step = apply_window(values, cw[0], cw[1], kind)
        steps.append(step)
    if photometric == "MONOCHROME1":
        values, step = invert(values, ds, rescaled, windowed=bool(steps))
        steps.append(step)
    return values, steps


def invert(values, ds, rescaled, *, windowed: bool) -> tuple[np.ndarray, Step]:
    """MONOCHROME1 shows low values bright: flip so that high is bright, within [0, 1] after a
    window, else within the rescaled range of the stored bits (per frame)."""
    if windowed:
        return (1.0 - values).astype(np.float32), Step("invert", {"reason": "MONOCHROME1"})
    low, high = stored_range(ds)
    slopes, intercepts = rescaled
    ends = np.stack([slopes * low + intercepts, slopes * high + intercepts])
    total = (ends.min(axis=0) + ends.max(axis=0)).astype(np.float32)
    out = total[:, None, None] - values
    return out, Step("invert", {"reason": "MONOCHROME1", "about": "stored range"})


def to_rgb(frames: np.ndarray, photometric: str, ds: Any, path: Path) -> tuple[np.ndarray, list]:
    """Colour frames ``(F, H, W, 3)`` as RGB: YBR converted, palette looked up."""
    if photometric == "RGB":
        return frames, []
    if photometric in ("YBR_FULL", "YBR_FULL_422"):
        from pydicom.pixels import convert_color_space

        out = np.stack([convert_color_space(f, photometric, "RGB") for f in frames])
        return out, [Step("colour", {"from": photometric, "to": "RGB"})]
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        out = np.stack([apply_color_lut(f, ds) for f in frames])
        return out, [Step("palette", {"from": "PALETTE COLOR", "to": "RGB"})]
    raise MedicalFormatError(path, f"photometric interpretation {photometric} is not supported")


def read_dicom_file(path: Path, window: Any = None) -> MedicalImage:
    """One DICOM file (single or multi-frame) -> :class:`MedicalImage`."""
    window = parse_window(window)
    ds = load_dataset(path)
    frames, photometric, steps = decode(ds, path)
    if photometric.startswith("MONOCHROME"):
        values, slopes, intercepts, step = modality_lut(ds, frames)
        steps += [step] if step.detail.get("source") != "none" else []
        values, more = intensity_steps(values, ds, (slopes, intercepts), photometric, window, path)
        array = values[None]
    else:
        if window[0] != "none":
            raise MedicalFormatError(path, f"a window applies to greyscale, not {photometric}")
        values, more = to_rgb(frames, photometric, ds, path)
        array = np.moveaxis(values, -1, 0)
    steps += more
    if array.shape[1] == 1:
        return _single_frame(ds, array[:, 0], steps, path)
    return _multi_frame(ds, array, steps, path)


def _single_frame(ds: Any, array: np.ndarray, steps: list, path: Path) -> MedicalImage:
    affine, spacing = None, None
    pixel_spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if pixel_spacing:
        spacing = tuple(float(v) for v in pixel_spacing)
    iop, ipp = ds.get("ImageOrientationPatient"), ds.get("ImagePositionPatient")
    if iop and ipp and ds.get("PixelSpacing"):
        affine = plane_affine(iop, ipp, ds.PixelSpacing, path)
    return _image(ds, array, spacing, affine, steps, path)


def _multi_frame(ds: Any, array: np.ndarray, steps: list, path: Path) -> MedicalImage:
    geometry = _frame_geometry(ds)
    if geometry is None:
        return _image(ds, array, None, None, steps, path)
    iop, positions, pixel_spacing = geometry
    row, col = (np.asarray(iop[:3], float), np.asarray(iop[3:], float))
    order = stack_order(positions, np.cross(row, col), path)
    if not np.array_equal(order, np.arange(len(order))):
        array = array[:, order]
        steps.append(Step("sort_frames", {"by": "ImagePositionPatient on the slice normal"}))
    affine = stack_affine(iop, positions[order], pixel_spacing, path)
    array, affine, _, step = reorient_volume(array, affine)
    steps += [step] if step else []
    return _image(ds, array, spacing_of(affine, 3), affine, steps, path)


def _frame_geometry(ds: Any) -> tuple[list[float], np.ndarray, list[float]] | None:
    """Orientation, per-frame positions and pixel spacing from the functional groups."""
    shared = (ds.get("SharedFunctionalGroupsSequence") or [None])[0]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if shared is None or not per_frame:
        return _grid_geometry(ds)

    def find(item, seq, key):
        for holder in (item, shared):
            if holder is not None and holder.get(seq) and key in holder.get(seq)[0]:
                return holder.get(seq)[0].get(key)
        return None

    iop = find(per_frame[0], "PlaneOrientationSequence", "ImageOrientationPatient")
    spacing = find(per_frame[0], "PixelMeasuresSequence", "PixelSpacing")
    positions = [find(f, "PlanePositionSequence", "ImagePositionPatient") for f in per_frame]
    if iop is None or spacing is None or any(p is None for p in positions):
        return None
    return list(iop), np.array([[float(v) for v in p] for p in positions]), list(spacing)


def _grid_geometry(ds: Any) -> tuple[list[float], np.ndarray, list[float]] | None:
    """RT dose style: one position and orientation, frames offset along the normal."""
    keys = ("GridFrameOffsetVector", "ImageOrientationPatient", "ImagePositionPatient")
    if not all(k in ds for k in keys) or "PixelSpacing" not in ds:
        return None
    iop = [float(v) for v in ds.ImageOrientationPatient]
    normal = np.cross(iop[:3], iop[3:])
    origin = np.array([float(v) for v in ds.ImagePositionPatient])
    offsets = np.array([float(v) for v in ds.GridFrameOffsetVector])
    return iop, origin + (offsets - offsets[0])[:, None] * normal, list(ds.PixelSpacing)


def _image(ds: Any, array, spacing, affine, steps: list, path: Path) -> MedicalImage:
    modality = str(ds.get("Modality", "")) or None
    return MedicalImage(array, spacing, affine, tuple(steps), str(path), "dicom", modality)
