"""Every dataset healthcnn knows: files, download URLs, checksums, task, classes and splits.

MedMNIST v2 / MedMNIST+ facts (file names, Zenodo URLs, MD5s, label names, split sizes, licences)
are transcribed from ``medmnist/info.py`` version 3.0.2 in the MedMNIST/MedMNIST repository
(INFO dict, keys ``url``/``MD5`` and ``url_64``/``MD5_64`` ... ``url_224``/``MD5_224``); the
files live in Zenodo record 10519652. Version 3.0.2 re-released the 28 px OrganA/C/SMNIST files
(new MD5s and split sizes); the values below are the 3.0.2 ones. HAM10000 and ECG checksums come
from the READMEs / MD5SUMS files of the shared data folder they describe.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from .._validate import unknown_name

MEDMNIST_RECORD = "https://zenodo.org/records/10519652/files"
MEDMNIST_SOURCE = "medmnist/info.py v3.0.2 (MedMNIST/MedMNIST), Zenodo record 10519652"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its path inside the dataset folder, where to get it, checksums."""

    name: str
    url: str | None = None
    md5: str | None = None
    sha256: str | None = None
    note: str = ""


@dataclass(frozen=True, eq=False)
class DatasetInfo:
    """Catalog entry. ``files[size]`` lists the files of one size variant (``None`` = the only
    variant); ``folder`` is relative to the data root."""

    name: str
    kind: str  # "medmnist" | "image-folder" | "ecg"
    folder: str
    task: str  # "binary" | "multi-class" | "multi-label" | "ordinal-regression"
    classes: tuple[str, ...]
    spatial_dims: int
    channels: int | None
    splits: dict[str, int]
    files: dict[int | None, tuple[RemoteFile, ...]]
    license: str
    source: str
    description: str = ""
    manifest: str | None = None  # a checksum manifest (md5sum format) shipped in the folder
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(s for s in self.files if s is not None)

    @property
    def default_size(self) -> int | None:
        return self.sizes[0] if self.sizes else None

    def files_for(self, size: int | None = None) -> tuple[RemoteFile, ...]:
        """The files of one size variant; raises listing the valid sizes."""
        if size is None:
            size = self.default_size
        if size not in self.files:
            valid = ", ".join(str(s) for s in self.sizes) or "none (no size variants)"
            raise ValueError(f"{self.name} has no size {size}; valid sizes: {valid}")
        return self.files[size]

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "folder": self.folder,
            "task": self.task,
            "classes": list(self.classes),
            "spatial_dims": self.spatial_dims,
            "channels": self.channels,
            "splits": dict(self.splits),
            "sizes": list(self.sizes),
            "files": {str(size): [vars(f) for f in files] for size, files in self.files.items()},
            "license": self.license,
            "source": self.source,
            "description": self.description,
        }


def medmnist_file_name(flag: str, size: int) -> str:
    """Official file name: ``retinamnist.npz`` at 28 px, else ``retinamnist_224.npz``."""
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


# flag: (task, channels, spatial_dims, (train, val, test), license, labels, {size: MD5})
# fmt: off
_ORGAN_11 = ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right",
             "liver", "lung-left", "lung-right", "pancreas", "spleen")
_MEDMNIST: dict[str, tuple] = {
    "pathmnist": ("multi-class", 3, 2, (89996, 10004, 7180), "CC BY 4.0", (
        "adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
        "normal colon mucosa", "cancer-associated stroma",
        "colorectal adenocarcinoma epithelium"), {
        28: "a8b06965200029087d5bd730944a56c1", 64: "55aa9c1e0525abe5a6b9d8343a507616",
        128: "ac42d08fb904d92c244187169d1fd1d9", 224: "2c51a510bcdc9cf8ddb2af93af1eadec"}),
    "chestmnist": ("multi-label", 1, 2, (78468, 11219, 22433), "CC BY 4.0", (
        "atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia",
        "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"), {
        28: "02c8a6516a18b556561a56cbdd36c4a8", 64: "9de6cd0b934ebb5b7426cfba5efbae16",
        128: "db107e5590b27930b62dbaf558aebee3", 224: "45bd33e6f06c3e8cdb481c74a89152aa"}),
    "dermamnist": ("multi-class", 3, 2, (7007, 1003, 2005), "CC BY-NC 4.0", (
        "actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
        "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi",
        "vascular lesions"), {
        28: "0744692d530f8e62ec473284d019b0c7", 64: "b70a2f5635c6199aeaa28c31d7202e1f",
        128: "2defd784463fa5243564e855ed717de1", 224: "8974907d8e169bef5f5b96bc506ae45d"}),
    "octmnist": ("multi-class", 1, 2, (97477, 10832, 1000), "CC BY 4.0", (
        "choroidal neovascularization", "diabetic macular edema", "drusen", "normal"), {
        28: "c68d92d5b585d8d81f7112f81e2d0842", 64: "e229e9440236b774d9f0dfef9d07bdaf",
        128: "0a97e76651ace45c5d943ee3f65b63ae", 224: "abc493b6d529d5de7569faaef2773ba3"}),
    "pneumoniamnist": ("binary", 1, 2, (4708, 524, 624), "CC BY 4.0", ("normal", "pneumonia"), {
        28: "28209eda62fecd6e6a2d98b1501bb15f", 64: "8f4eceb4ccffa70c672198ea285246c6",
        128: "05b46931834c231683c68f40c47b2971", 224: "d6a3c71de1b945ea11211b03746c1fe1"}),
    "retinamnist": ("ordinal-regression", 3, 2, (1080, 120, 400), "CC BY 4.0",
                    ("0", "1", "2", "3", "4"), {
        28: "bd4c0672f1bba3e3a89f0e4e876791e4", 64: "afda852cc34dcda56f86ad2b2457dbcc",
        128: "e48e916a24454daf90583d4e6efb1a18", 224: "eae7e3b6f3fcbda4ae613ebdcbe35348"}),
    "breastmnist": ("binary", 1, 2, (546, 78, 156), "CC BY 4.0",
                    ("malignant", "normal, benign"), {
        28: "750601b1f35ba3300ea97c75c52ff8f6", 64: "742edef2a1fd1524b2efff4bd7ba9364",
        128: "363e4b3f8d712e9b5de15470a2aaadf1", 224: "b56378a6eefa9fed602bb16d192d4c8b"}),
    "bloodmnist": ("multi-class", 3, 2, (11959, 1712, 3421), "CC BY 4.0", (
        "basophil", "eosinophil", "erythroblast",
        "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)", "lymphocyte",
        "monocyte", "neutrophil", "platelet"), {
        28: "7053d0359d879ad8a5505303e11de1dc", 64: "2b94928a2ae4916078ca51e05b6b800b",
        128: "adace1e0ed228fccda1f39692059dd4c", 224: "b718ff6835fcbdb22ba9eacccd7b2601"}),
    "tissuemnist": ("multi-class", 1, 2, (165466, 23640, 47280), "CC BY 4.0", (
        "Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
        "Glomerular endothelial cells", "Interstitial endothelial cells", "Leukocytes",
        "Podocytes", "Proximal Tubule Segments", "Thick Ascending Limb"), {
        28: "ebe78ee8b05294063de985d821c1c34b", 64: "123ece2eba09d0aa5d698fda57103344",
        128: "61b955355d7425a89687b06cca3ce0c2", 224: "b077128c4a949f0a4eb01517f9037b9c"}),
    "organamnist": ("multi-class", 1, 2, (34561, 6491, 17778), "CC BY 4.0", _ORGAN_11, {
        28: "68e3f8846a6bd62f0c9bf841c0d9eacc", 64: "2dcccc29b88e6da5a01161ef20cda288",
        128: "eeae80d0a227a8d099027e1b3cfd3b60", 224: "50747347e05c87dd3aaf92c49f9f3170"}),
    "organcmnist": ("multi-class", 1, 2, (12975, 2392, 8216), "CC BY 4.0", _ORGAN_11, {
        28: "b9ceb9546e10131b32923c5bbeaea2b1", 64: "3ce34a8724ea6f548e6db4744d03b6a9",
        128: "773c1f009daa3fe5d9a2a201b2a7ed94", 224: "050f5e875dc056f6768abf94ec9995d1"}),
    "organsmnist": ("multi-class", 1, 2, (13932, 2452, 8827), "CC BY 4.0", _ORGAN_11, {
        28: "9ab87b696fb54e2a387ebe992d6ed5f1", 64: "53a6d115339d874c25e309a994ff46d3",
        128: "ded0c5fa01a95dc4978b956f613e9b8e", 224: "b354719e553fbbb2513d5533f52a4cb1"}),
    "organmnist3d": ("multi-class", 1, 3, (971, 161, 610), "CC BY 4.0", (
        "liver", "kidney-right", "kidney-left", "femur-right", "femur-left", "bladder", "heart",
        "lung-right", "lung-left", "spleen", "pancreas"), {
        28: "a0c5a1ff56af4f155c46d46fbb45a2fe", 64: "58a2205adf14a9d0a189cb06dc78bf10"}),
    "nodulemnist3d": ("binary", 1, 3, (1158, 165, 310), "CC BY 4.0", ("benign", "malignant"), {
        28: "8755a7e9e05a4d9ce80a24c3e7a256f3", 64: "c47c5b7d457bf6332200d2ea6d64ecd8"}),
    "adrenalmnist3d": ("binary", 1, 3, (1188, 98, 298), "CC BY 4.0", ("normal", "hyperplasia"), {
        28: "bbd3c5a5576322bc4cdfea780653b1ce", 64: "17721accfe9fb005146a47d33bc54b2f"}),
    "fracturemnist3d": ("multi-class", 1, 3, (1027, 103, 240), "CC BY 4.0", (
        "buckle rib fracture", "nondisplaced rib fracture", "displaced rib fracture"), {
        28: "6aa7b0143a6b42da40027a9dda61302f", 64: "f01d7e6316aedf4210da0da5b7437b42"}),
    "vesselmnist3d": ("binary", 1, 3, (1335, 191, 382), "CC BY 4.0", ("vessel", "aneurysm"), {
        28: "b41fd4f7e7e2feedddb201585ecafa1b", 64: "6bb274a8846e1097066dcd64e2c4520f"}),
    "synapsemnist3d": ("binary", 1, 3, (1230, 177, 352), "CC BY 4.0",
                       ("inhibitory synapse", "excitatory synapse"), {
        28: "1235b78a3cd6280881dd7850a78eadb6", 64: "43bd14ebf3af9d3dd072446fedc14d5e"}),
}
# fmt: on


def _medmnist_entry(flag: str) -> DatasetInfo:
    task, channels, dims, (train, val, test), licence, labels, md5s = _MEDMNIST[flag]
    files = {}
    for size, md5 in md5s.items():
        name = medmnist_file_name(flag, size)
        files[size] = (RemoteFile(name, f"{MEDMNIST_RECORD}/{name}?download=1", md5=md5),)
    shape = "x".join([str(28)] * dims)
    return DatasetInfo(
        name=flag,
        kind="medmnist",
        folder="medmnist",
        task=task,
        classes=tuple(labels),
        spatial_dims=dims,
        channels=channels,
        splits={"train": train, "val": val, "test": test},
        files=files,
        license=licence,
        source=MEDMNIST_SOURCE,
        description=f"MedMNIST {'3D volumes' if dims == 3 else '2D images'}, {channels} "
        f"channel(s), {shape} (+ larger sizes), official train/val/test split",
    )


_PHYSIONET = "https://physionet.org/files"

_OTHER: tuple[DatasetInfo, ...] = (
    DatasetInfo(
        name="ham10000",
        kind="image-folder",
        folder="ham10000",
        task="multi-class",
        classes=("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"),
        spatial_dims=2,
        channels=3,
        splits={"all": 10015},
        files={
            None: (
                RemoteFile(
                    "HAM10000_metadata.csv",
                    md5="70bb67f71bd23dde0bd2eda4bdcc98e5",
                    note="official metadata (lesion_id, image_id, dx, ...)",
                ),
                RemoteFile(
                    "images_200x150.zip",
                    md5="95a2c6337b12458376e24027ee4163c4",
                    note="all 10,015 images downscaled to 200x150 (third-party), entries "
                    "images/ISIC_*.jpg",
                ),
            )
        },
        license="CC BY-NC 4.0 (non-commercial research)",
        source="Tschandl et al., Sci Data 5:180161 (2018); Harvard Dataverse "
        "doi:10.7910/DVN/DBW86T (no direct download URL for this packing)",
        description="HAM10000 dermoscopy, 7 diagnoses, 7,470 lesions: split by lesion_id",
    ),
    DatasetInfo(
        name="mitdb",
        kind="ecg",
        folder="ecg/mitdb",
        task="multi-class",
        classes=("N", "A", "V"),
        spatial_dims=1,
        channels=2,
        splits={"records": 1},
        files={
            None: tuple(
                RemoteFile(f"100.{ext}", f"{_PHYSIONET}/mitdb/1.0.0/100.{ext}", md5=md5, sha256=sha)
                for ext, md5, sha in (
                    (
                        "hea",
                        "7a3814b6799fa9e0fbd6355cc0f83088",
                        "60ebc904c7bf3e04d142638d3fd5c903e8dc9f10f1ea3264e07926aa089ee75e",
                    ),
                    (
                        "dat",
                        "4968ff1f99b15820d4a7a1d274d13d66",
                        "b2ea3c250e56e48f4b7b90697832b8ecd1afa1e0bb31f2dcfea4ed6e1075a639",
                    ),
                    (
                        "atr",
                        "566dc5a685c634deba5a081b4ceec345",
                        "8d8a5349fb16638ebbf649f1779d12e96d91b736b2aafe59db43719ae583d471",
                    ),
                )
            )
        },
        license="ODC-By 1.0",
        source="PhysioNet mitdb 1.0.0, doi:10.13026/C2F305",
        description="MIT-BIH Arrhythmia record 100: 2 leads, 360 Hz, 30 min, beat annotations",
        manifest="MD5SUMS",
    ),
    DatasetInfo(
        name="ptbdb",
        kind="ecg",
        folder="ecg/ptbdb",
        task="multi-class",
        classes=("myocardial infarction",),
        spatial_dims=1,
        channels=15,
        splits={"records": 1},
        files={
            None: tuple(
                RemoteFile(
                    f"s0010_re.{ext}",
                    f"{_PHYSIONET}/ptbdb/1.0.0/patient001/s0010_re.{ext}",
                    md5=md5,
                    note="MD5 of the shared copy (wfdb-python sample data), "
                    "not an official PhysioNet hash",
                )
                for ext, md5 in (
                    ("hea", "131c21f7a1e6a83333d822c2dc3a35eb"),
                    ("dat", "9d99ce32296914ab6145164fa8a61442"),
                    ("xyz", "8c39626fa9efabb65fb9ba4eeb9ce19d"),
                )
            )
        },
        license="ODC-By 1.0",
        source="PhysioNet ptbdb 1.0.0 (https://physionet.org/content/ptbdb/)",
        description="PTB Diagnostic ECG record patient001/s0010_re: 15 leads, 1 kHz, 38.4 s",
        manifest="MD5SUMS",
    ),
    DatasetInfo(
        name="cpsc2021",
        kind="ecg",
        folder="ecg/cpsc2021",
        task="binary",
        classes=("non-AF", "AF"),
        spatial_dims=1,
        channels=2,
        splits={"records": 18},
        files={None: (RemoteFile("records_summary.csv", md5="33e9ec836486a4f2e0bc9fd93b633cde"),)},
        license="CC BY 4.0 (as published on PhysioNet, unconfirmed)",
        source="PhysioNet cpsc2021 1.0.0 (https://physionet.org/content/cpsc2021/1.0.0/); "
        "18 excerpts from torch_ecg sample data",
        description="CPSC 2021 paroxysmal AF: 18 two-lead Holter excerpts, 200 Hz, 6 patients; "
        "records/ checked against the folder's MD5SUMS",
        manifest="MD5SUMS",
    ),
    DatasetInfo(
        name="cinc2021-georgia",
        kind="ecg",
        folder="ecg/cinc2021-georgia",
        task="multi-label",
        classes=(),
        spatial_dims=1,
        channels=12,
        splits={"records": 50},
        files={None: (RemoteFile("labels.csv", md5="7d9ba5755ba190df06eb84c943e16ffe"),)},
        license="CC BY 4.0",
        source="PhysioNet/CinC Challenge 2021 (https://physionet.org/content/challenge-2021/); "
        "50 records from torch_ecg sample data",
        description="50 12-lead 10 s ECGs, 500 Hz, SNOMED-CT diagnoses (multi-label); "
        "records/ checked against the folder's MD5SUMS",
        manifest="MD5SUMS",
    ),
    DatasetInfo(
        name="ecg5000",
        kind="ecg",
        folder="ecg/ecg5000",
        task="multi-class",
        classes=("normal", "R-on-T PVC", "PVC", "SVPB/ectopic", "unclassified"),
        spatial_dims=1,
        channels=1,
        splits={"train": 500},
        files={
            None: (
                RemoteFile(
                    "ECG5000_TRAIN.txt",
                    md5="a7ec9b6577e0cc897dca3adaaa0699ed",
                    note="UCR archive TRAIN split",
                ),
            )
        },
        license="UCR archive research use (source chfdb: ODC-By 1.0)",
        source="UCR Time Series Classification Archive (Dau et al. 2019), from PhysioNet chfdb",
        description="ECG5000 TRAIN: 500 beats x 140 samples, 5 classes, one patient",
        manifest="MD5SUMS",
    ),
)


def _build() -> dict[str, DatasetInfo]:
    catalog = {flag: _medmnist_entry(flag) for flag in _MEDMNIST}
    for entry in _OTHER:
        catalog[entry.name] = entry
    return catalog


CATALOG: dict[str, DatasetInfo] = _build()


def list_datasets(pattern: str = "*", kind: str | None = None) -> list[str]:
    """Catalog names matching a shell pattern (and a kind), in catalog order."""
    return [
        n
        for n, e in CATALOG.items()
        if fnmatch.fnmatch(n, pattern) and (kind is None or e.kind == kind)
    ]


def get_dataset(name: str) -> DatasetInfo:
    """The catalog entry for ``name`` (case-insensitive); unknown names list the valid ones."""
    key = str(name).lower()
    if key not in CATALOG:
        raise unknown_name("dataset", name, CATALOG)
    return CATALOG[key]


def medmnist_lookup_by_file(file_name: str) -> tuple[DatasetInfo, int] | None:
    """``'retinamnist_224.npz' -> (entry, 224)`` for an official MedMNIST file name, else None."""
    for entry in CATALOG.values():
        if entry.kind != "medmnist":
            continue
        for size, files in entry.files.items():
            if files[0].name == file_name:
                return entry, size
    return None
