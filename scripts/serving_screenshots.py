"""Write docs/serving-page.png and docs/serving-volume.png: the page of ``healthcnn serve`` in
headless chromium (Selenium, chromium-driver), with a real RetinaMNIST image and a real
AdrenalMNIST3D volume (uploaded as NIfTI) scored by small models trained here.

    HEALTHCNN_DATA=/path/to/data python scripts/serving_screenshots.py [--out docs]

The models: simple_cnn on all of RetinaMNIST (28 px, 8 epochs) and on 400 AdrenalMNIST3D
training volumes at 32^3 (every 2nd voxel, 6 epochs), each calibrated (prediction sets,
abstention, operating points) and given its model card (``healthcnn report``). A few minutes
on two cores. The screenshots illustrate the page, not results: the models are deliberately
small.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from healthcnn._atomic import atomic_write_bytes
from healthcnn.cli import main as cli
from healthcnn.serve import ServeConfig, create_app, load_models
from healthcnn.serve.run import bind
from healthcnn.studies.run import train_run
from healthcnn.training import TrainConfig
from healthcnn.training.config import RunConfig

WAIT_S = 60


def train(data: str, out: Path, epochs: int, data_dir: str, task: str | None = None) -> Path:
    """simple_cnn on ``data`` for ``epochs``, calibrated, with its model card sealed in."""
    train_cfg = TrainConfig(epochs=epochs, batch_size=64, precision="fp32", seed=0)
    cfg = RunConfig(
        data=data, out=str(out), model="simple_cnn", task=task, train=train_cfg, data_dir=data_dir
    )
    train_run(cfg, progress=False)
    calibrate = ["calibrate", str(out), "--abstain-accuracy", "0.6", "--data-dir", data_dir]
    assert cli([*calibrate, "--format", "json"]) == 0
    assert cli(["report", str(out), "-o", str(out / "report.html"), "--data-dir", data_dir]) == 0
    return out


def adrenal_32(data_dir: Path, work: Path) -> Path:
    """AdrenalMNIST3D with every second voxel (32^3), in MedMNIST layout: the first 400
    training volumes, all of validation and test."""
    with np.load(data_dir / "medmnist" / "adrenalmnist3d_64.npz") as f:
        arrays = {k: v[:400] if k.startswith("train") else v for k, v in f.items()}
    arrays = {k: v[:, ::2, ::2, ::2] if k.endswith("images") else v for k, v in arrays.items()}
    np.savez(work / "adrenal32.npz", **arrays)
    return work / "adrenal32.npz"


def start(bundles: list[Path]):
    import uvicorn

    app = create_app(load_models(bundles, precision="fp32", warm_batch=None), ServeConfig())
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}/"


def predict(url: str, name: str, path: Path) -> dict:
    boundary = "screenshot-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    body = head.encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{url}v1/models/{name}/predict",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=WAIT_S) as r:
        return json.load(r)["results"][0]


def retina_case(url: str, name: str, npz: Path, work: Path) -> Path:
    """The first RetinaMNIST test image (grade 2 or worse) positive at the high-sensitivity
    point and not abstained: a case that shows every part of the page."""
    from PIL import Image

    with np.load(npz) as f:
        images, labels = f["test_images"], f["test_labels"].ravel()
    for i in np.flatnonzero(labels >= 2)[:60]:
        path = work / f"retinamnist_test_{i}.png"
        Image.fromarray(images[i]).save(path)
        row = predict(url, name, path)
        if not row["abstain"] and row["decisions"].get("high sensitivity"):
            return path
    return path


def adrenal_case(npz64: Path, work: Path) -> Path:
    """The first AdrenalMNIST3D test volume of class 1 at 64^3, as NIfTI (1 mm voxels)."""
    import nibabel as nib

    with np.load(npz64) as f:
        i = int(np.flatnonzero(f["test_labels"].ravel() == 1)[0])
        volume = f["test_images"][i]
    path = work / f"adrenalmnist3d_test_{i}.nii.gz"
    nib.save(nib.Nifti1Image(volume.astype(np.int16), np.eye(4)), path)
    return path


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                "--hide-scrollbars", "--lang=en-US"):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def shoot(driver, url: str, model: str, path: Path, out: Path) -> None:
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver.set_window_size(1280, 900)
    driver.get(url)
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_elements("css selector", f"#model option[value='{model}']")
    )
    Select(driver.find_element("id", "model")).select_by_value(model)
    driver.find_element("id", "explain").click()
    driver.find_element("id", "file").send_keys(str(path))
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element("id", "verdict").text)
    time.sleep(0.3)  # the figure's image decodes
    height = driver.execute_script("return document.documentElement.scrollHeight")
    size = {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", size)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    atomic_write_bytes(out, base64.b64decode(shot["data"]))
    print(f"wrote {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("HEALTHCNN_DATA"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs")
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("set HEALTHCNN_DATA or pass --data-dir")
    data_dir = Path(args.data_dir)
    with tempfile.TemporaryDirectory(prefix="healthcnn-shots-") as tmp:
        work = Path(tmp)
        retina = train("retinamnist", work / "retinamnist", 8, str(data_dir))
        adrenal = str(adrenal_32(data_dir, work))
        volume = train(adrenal, work / "adrenal3d", 6, str(data_dir), "binary")
        server, thread, url = start([retina, volume])
        driver = browser()
        try:
            case = retina_case(url, "retinamnist", data_dir / "medmnist" / "retinamnist.npz", work)
            shoot(driver, url, "retinamnist", case, args.out / "serving-page.png")
            case = adrenal_case(data_dir / "medmnist" / "adrenalmnist3d_64.npz", work)
            shoot(driver, url, "adrenal3d", case, args.out / "serving-volume.png")
        finally:
            driver.quit()
            server.should_exit = True
            thread.join(WAIT_S)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
