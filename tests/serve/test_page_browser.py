"""The page at ``/`` in a real browser: Debian's chromium driven by Selenium (chromium-driver)
through a service on 127.0.0.1 holding a RetinaMNIST image model and an AdrenalMNIST3D volume
model, each trained for one epoch on a small real subset and calibrated (prediction sets,
abstention, operating points).

What the page shows is checked against the API's answer for the same file, fetched with urllib:
each probability's exact value (its ``data-value``) and its 3-decimal text, the decision at every
operating point with the point's threshold and validation sensitivity and specificity, the
abstain banner, the prediction set, the saliency verdict, the error message of a refused file;
and the canvases pixel by pixel against the preview (window/level and slices included).

Without chromium, chromium-driver or selenium the browser tests skip; under
``HEALTHCNN_REQUIRE_DATA=1`` (``.ci/run``, which installs the browser) a skip is a failure
(tests/conftest.py). Screenshots go to ``tmp_path`` only (``scripts/serving_screenshots.py``
writes the ones in ``docs/``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from healthcnn.serve.page import STATIC

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
STATIC_DIR = Path(__file__).resolve().parents[2] / "src" / "healthcnn" / "serve" / "static"
WAIT_S = 30  # every wait on the browser or the service is bounded by this

needs_browser = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason="chromium and chromium-driver are not installed (apt-get install chromium "
    "chromium-driver)",
)


def three(v: float) -> str:
    """``v`` to 3 decimals as JavaScript's ``toFixed(3)`` writes it (exact value, ties away
    from zero), the page's one rule for every number."""
    return str(Decimal(v).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


# -- the page's files, without a browser --------------------------------------------------------


def test_page_files_hold_no_external_url_and_no_inline_script() -> None:
    shipped = sorted(p.name for p in STATIC_DIR.iterdir())
    assert sorted([*STATIC, "index.html"]) == shipped  # every file is served, none is missing
    for name in shipped:
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        assert "://" not in text and "//cdn" not in text, f"{name} names an external URL"
        assert "@import" not in text and "@font-face" not in text, name
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handlers break a strict CSP"
    assert "style=" not in html, "inline styles break a strict CSP"
    assert "Research use, not for diagnosis" in html


# -- the service ------------------------------------------------------------------------------


def _calibrate(bundle: Path, *extra: str) -> None:
    from healthcnn.cli import main

    args = ["calibrate", str(bundle), "--abstain-accuracy", "0.6", "--precision", "fp32"]
    assert main([*args, *extra, "--format", "json"]) == 0


def _volume_bundle(tmp: Path, medmnist_subset: Any) -> Path:
    """simple_cnn for one epoch on 24 real AdrenalMNIST3D volumes at 16^3 (every 4th voxel)."""
    from healthcnn.bundle.seal import seal_file
    from healthcnn.studies.run import train_run
    from healthcnn.training import TrainConfig
    from healthcnn.training.config import RunConfig

    src = Path(os.environ["HEALTHCNN_DATA"]) / "medmnist" / "adrenalmnist3d_64.npz"
    npz = medmnist_subset(src, tmp / "adrenal_small.npz", {"train": 24, "val": 16, "test": 8}, 4)
    cfg = RunConfig(
        data=str(npz),
        out=str(tmp / "adrenal"),
        model="simple_cnn",
        task="binary",
        train=TrainConfig(epochs=1, batch_size=8, precision="fp32", seed=0),
    )
    train_run(cfg, progress=False)
    _calibrate(tmp / "adrenal")
    card = "<!doctype html><title>card</title><h1>Model card of adrenal</h1>"
    (tmp / "adrenal" / "report.html").write_text(card, encoding="utf-8")
    seal_file(tmp / "adrenal", "report.html")  # what healthcnn report B -o B/report.html does
    return tmp / "adrenal"


class Service:
    """The app on uvicorn in a thread, on 127.0.0.1 and a free port."""

    def __init__(self, bundles: list[Path], upload_dir: Path) -> None:
        import uvicorn

        from healthcnn.serve import ServeConfig, create_app, load_models
        from healthcnn.serve.run import bind

        models = load_models(bundles, precision="fp32", warm_batch=None)
        app = create_app(models, ServeConfig(max_batch=4, upload_dir=str(upload_dir)))
        self.sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> Service:
        self.thread.start()
        deadline = time.monotonic() + WAIT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start within {WAIT_S} s")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT_S)
        self.sock.close()
        assert not self.thread.is_alive(), "the service did not stop"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=WAIT_S) as r:
            body = r.read().decode("utf-8")
            return json.loads(body) if r.headers.get_content_type() == "application/json" else body

    def predict(self, name: str, path: Path, **params: str) -> tuple[int, dict[str, Any]]:
        """``(status, JSON)`` of ``POST /v1/models/{name}/predict`` with ``path`` as the file."""
        boundary = "healthcnn-page-test-boundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        body = head.encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        query = urllib.parse.urlencode({"preview": "true", **params})
        request = urllib.request.Request(
            f"{self.url}v1/models/{name}/predict?{query}",
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=WAIT_S) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)


@pytest.fixture(scope="module")
def service(tmp_path_factory, tiny_retina_bundle, medmnist_subset):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    tmp = tmp_path_factory.mktemp("page")
    retina = tiny_retina_bundle(tmp, "retinamnist_small.npz", 0).rename(tmp / "retina")
    _calibrate(retina, "--positive", "2,3,4")
    volume = _volume_bundle(tmp, medmnist_subset)
    (tmp / "uploads").mkdir()
    svc = Service([retina, volume], tmp / "uploads").start()
    svc.files = tmp
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--lang=en-US"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=DriverService(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    driver.set_script_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


# -- driving the page ---------------------------------------------------------------------------


def wait(driver, condition, what: str) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S).until(lambda d: condition(d))
    except TimeoutException:
        shown = driver.execute_script(
            "return [document.getElementById('status')?.textContent,"
            " document.getElementById('error')?.textContent]"
        )
        pytest.fail(f"the page did not show {what} within {WAIT_S} s (status, error: {shown})")


def js(driver, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def open_page(driver, service: Service, model: str) -> None:
    from selenium.webdriver.support.ui import Select

    driver.get(service.url)
    wait(driver, lambda d: js(d, "return document.querySelectorAll('#model option').length"),
         "the models")  # fmt: skip
    Select(driver.find_element("id", "model")).select_by_value(model)
    driver.get_log("browser")  # start each page with an empty console


def upload(driver, path: Path) -> None:
    """Choose ``path`` in the file input and wait for its result (names are unique per test)."""
    driver.find_element("id", "file").send_keys(str(path))
    wait(
        driver,
        lambda d: (
            js(d, "return document.getElementById('status').textContent").startswith(
                f"{path.name} scored"
            )
            and js(d, "return document.getElementById('result').getAttribute('aria-busy')")
            == "false"
        ),
        f"the result for {path.name}",
    )


def no_script_errors(driver) -> None:
    """Nothing on the console but network lines (a refused upload logs its 4xx there)."""
    bad = [
        e for e in driver.get_log("browser") if e["level"] == "SEVERE" and e["source"] != "network"
    ]
    assert bad == []


def shown_probabilities(driver) -> dict[str, tuple[str, float]]:
    rows = js(
        driver,
        """return [...document.querySelectorAll('#probs li')].map((li) => {
        const v = li.querySelector('.prob-value');
        return [li.dataset.class, v.textContent, v.dataset.value]; });""",
    )
    return {name: (text, float(value)) for name, text, value in rows}


def check_result(driver, answer: dict[str, Any], info: dict[str, Any]) -> None:
    """The numbers on the page equal the API's ``answer`` for the same file."""
    from selenium.webdriver.support.ui import Select

    row = answer["results"][0]
    shown = shown_probabilities(driver)
    assert list(shown) == info["classes"]
    for name, p in row["probabilities"].items():
        assert shown[name] == (three(p), p), name  # exact value and the 3-decimal text
    assert driver.find_element("id", "abstain").is_displayed() is row["abstain"]
    assert driver.find_element("id", "set").text == "{ " + ", ".join(row["set"]) + " }"
    points = info["operating_points"]["points"]
    select = Select(driver.find_element("id", "point"))
    assert [o.get_attribute("value") for o in select.options] == [p["name"] for p in points]
    for point in points:
        select.select_by_value(point["name"])
        decision = driver.find_element("id", "decision")
        positive = row["decisions"][point["name"]]
        assert decision.get_attribute("data-positive") == str(positive).lower()
        assert decision.text.startswith("Positive" if positive else "Negative")
        assert point["name"] in decision.text
        for key, field in (("threshold", "threshold"), ("sensitivity", "val_sensitivity"),
                           ("specificity", "val_specificity")):  # fmt: skip
            dd = driver.find_element("id", key)
            assert (dd.text, float(dd.get_attribute("data-value"))) == (
                three(point[field]),
                point[field],
            ), (point["name"], key)


def canvas_pixels(driver, canvas_id: str | None, rows: int, cols: int) -> np.ndarray:
    """The canvas's RGB at the centre of each of ``rows`` x ``cols`` source pixels."""
    script = """const [id, rows, cols] = arguments;
        const c = id ? document.getElementById(id) : document.querySelector('#viewer canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const out = [];
        for (let r = 0; r < rows; r += 1) for (let k = 0; k < cols; k += 1) {
          const y = Math.floor(((r + 0.5) * c.height) / rows);
          const x = Math.floor(((k + 0.5) * c.width) / cols);
          const o = (y * c.width + x) * 4; out.push(d[o], d[o + 1], d[o + 2]); }
        return out;"""
    return np.array(js(driver, script, canvas_id, rows, cols), dtype=np.uint8).reshape(
        rows, cols, 3
    )


def preview_array(answer: dict[str, Any]) -> np.ndarray:
    p = answer["preview"]
    assert p["dtype"] == "uint8"
    return np.frombuffer(base64.b64decode(p["data"]), dtype=np.uint8).reshape(p["shape"])


def saliency_on(driver, answer: dict[str, Any]) -> None:
    """Tick the overlay box: the page asks for Grad-CAM and shows the verdict the API gives."""
    sanity = answer["saliency"]["sanity"]
    driver.find_element("id", "explain").click()
    verdict = wait(driver, lambda d: d.find_element("id", "verdict").text, "the sanity verdict")
    assert verdict.startswith(f"Sanity check: {sanity['verdict'].upper()} (")
    assert f"Spearman {three(sanity['spearman'])}, SSIM {three(sanity['ssim'])}" in verdict
    figure = driver.find_element("id", "saliency-figure")
    assert figure.get_attribute("src") == answer["saliency"]["figure"]
    assert answer["saliency"]["class"] in figure.get_attribute("alt")


# -- the tests --------------------------------------------------------------------------------


def _retina_pngs(folder: Path, npz: Path, n: int) -> list[Path]:
    with np.load(npz) as f:
        images = f["test_images"][:n]
    paths = []
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"retina_test{i}.png")
        paths.append(folder / f"retina_test{i}.png")
    return paths


@needs_browser
@pytest.mark.data
def test_image_page_shows_the_apis_numbers(service, browser, tmp_path) -> None:
    info = service.get("/v1/models/retina")
    assert info["input"]["kind"] == "image" and info["card"] is False
    pngs = _retina_pngs(tmp_path, service.files / "retinamnist_small.npz", 12)
    answers = {p: service.predict("retina", p) for p in pngs}
    assert all(status == 200 for status, _ in answers.values())
    by_flag = {a["results"][0]["abstain"]: p for p, (_, a) in answers.items()}
    assert set(by_flag) == {True, False}, "the 12 images should hold one kept and one abstained"
    open_page(browser, service, "retina")
    assert browser.find_element("id", "research").text == "Research use, not for diagnosis."
    assert browser.find_element("id", "card-missing").is_displayed()
    assert not browser.find_element("id", "card-link").is_displayed()
    for abstain in (True, False):
        path = by_flag[abstain]
        upload(browser, path)
        answer = answers[path][1]
        check_result(browser, answer, info)
        assert browser.find_element("id", "abstain").get_attribute("role") == "alert"
    image = preview_array(answer)  # the last upload, a kept case: channels, rows, columns
    assert image.shape == (3, 28, 28) and not browser.find_element("id", "display").is_displayed()
    plain = canvas_pixels(browser, None, 28, 28)
    np.testing.assert_array_equal(plain, image.transpose(1, 2, 0))
    _, explained = service.predict("retina", path, explain="gradcam")
    assert explained["results"] == answer["results"]
    saliency_on(browser, explained)
    heat = np.frombuffer(base64.b64decode(explained["saliency"]["map"]["data"]), np.uint8)
    assert heat.max() > 0 and (canvas_pixels(browser, None, 28, 28) != plain).any()
    browser.find_element("id", "explain").click()  # off: the plain image again, no request
    assert not browser.find_element("id", "saliency").is_displayed()
    np.testing.assert_array_equal(canvas_pixels(browser, None, 28, 28), plain)
    browser.save_screenshot(str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    no_script_errors(browser)


def expected_window(values: np.ndarray, width: float, level: float) -> np.ndarray:
    """The page's window/level on uint8 values: ``Math.round((v - low) / width * 255)``,
    clamped to 0..255 (``Math.round`` rounds halves up)."""
    low = level - width / 2
    return np.clip(np.floor((values - low) / width * 255 + 0.5), 0, 255).astype(np.uint8)


def plane_check(driver, volume: np.ndarray, slices: list[int], wl=(255.0, 128.0)) -> None:
    """Each of the three planes shows its slice of ``volume`` (D, H, W) through ``slices``,
    windowed, away from the cross-hair's row and column."""
    d, h, w = slices
    planes = [(volume[d], (h, w)), (volume[:, h], (d, w)), (volume[:, :, w], (d, h))]
    for i, (plane, (row, col)) in enumerate(planes):
        shown = canvas_pixels(driver, f"plane-{i}", *plane.shape)[..., 0]
        keep = np.ones(plane.shape, bool)
        keep[row, :] = keep[:, col] = False
        np.testing.assert_array_equal(shown[keep], expected_window(plane, *wl)[keep], f"plane {i}")


@needs_browser
@pytest.mark.data
def test_volume_page_three_planes_window_level_and_saliency(service, browser, tmp_path) -> None:
    from selenium.webdriver.common.keys import Keys

    info = service.get("/v1/models/adrenal")
    assert info["input"]["kind"] == "volume" and info["card"] is True
    with np.load(service.files / "adrenal_small.npz") as f:
        volume = f["test_images"][0]
    path = tmp_path / "adrenal_case.npz"
    np.savez(path, images=volume[None])
    status, answer = service.predict("adrenal", path)
    assert status == 200
    open_page(browser, service, "adrenal")
    link = browser.find_element("id", "card-link")
    assert link.is_displayed() and "Model card of adrenal" in service.get(
        link.get_attribute("href").replace(service.url, "")
    )
    upload(browser, path)
    check_result(browser, answer, info)
    shown = preview_array(answer)[0]
    np.testing.assert_array_equal(shown, volume)  # the preview is the input the model saw
    plane_check(browser, volume, [8, 8, 8])
    slider = browser.find_element("id", "slice-0")
    slider.send_keys(Keys.ARROW_RIGHT * 2)  # keyboard: two slices on
    assert browser.find_element("id", "slice-0-value").text == "11 / 16"
    plane_check(browser, volume, [10, 8, 8])
    browser.find_element("id", "window").send_keys(Keys.ARROW_LEFT * 100)
    browser.find_element("id", "level").send_keys(Keys.ARROW_RIGHT * 80)
    wl = (float(browser.find_element("id", "window").get_attribute("value")),
          float(browser.find_element("id", "level").get_attribute("value")))  # fmt: skip
    assert (expected_window(volume, *wl) != volume).any()  # a window that shows a change
    assert wl == (155.0, 208.0) and browser.find_element("id", "window-value").text == "155"
    plane_check(browser, volume, [10, 8, 8], wl)
    _, explained = service.predict("adrenal", path, explain="gradcam")
    saliency_on(browser, explained)
    browser.find_element("id", "reset-display").click()
    browser.save_screenshot(str(tmp_path / "volume.png"))
    assert (tmp_path / "volume.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    no_script_errors(browser)


@needs_browser
@pytest.mark.data
def test_refused_file_shows_the_apis_error_and_a_dropped_file_clears_it(
    service, browser, tmp_path
) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image\n")
    status, answer = service.predict("retina", bad)
    assert status == 415
    open_page(browser, service, "retina")
    browser.find_element("id", "file").send_keys(str(bad))
    error = wait(browser, lambda d: d.find_element("id", "error").text, "the error")
    assert error == f"415: {answer['error']}"
    assert browser.find_element("id", "error").get_attribute("role") == "alert"
    assert not browser.find_element("id", "outcome").is_displayed()
    good = _retina_pngs(tmp_path, service.files / "retinamnist_small.npz", 1)[0]
    drop(browser, good, "dropped.png")  # the drop zone takes a file as the input does
    wait(browser, lambda d: d.find_element("id", "outcome").is_displayed(), "the dropped file")
    assert not browser.find_element("id", "error").is_displayed()
    assert browser.find_element("id", "status").text.startswith("dropped.png scored")
    _, answer = service.predict("retina", good)
    check_result(browser, answer, service.get("/v1/models/retina"))
    no_script_errors(browser)


def drop(driver, path: Path, name: str) -> None:
    """Drop ``path``'s bytes on the drop zone as a file called ``name`` (what a drag from the
    desktop delivers: a ``drop`` event whose DataTransfer holds a File)."""
    js(driver, """const [b64, name] = arguments;
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], name, { type: 'image/png' }));
        const zone = document.getElementById('drop');
        const how = { dataTransfer: data, bubbles: true, cancelable: true };
        zone.dispatchEvent(new DragEvent('dragover', how));
        zone.dispatchEvent(new DragEvent('drop', how));""",
       base64.b64encode(path.read_bytes()).decode("ascii"), name)  # fmt: skip


@needs_browser
@pytest.mark.data
def test_every_control_is_labelled_and_reachable_by_keyboard(service, browser, tmp_path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    with np.load(service.files / "adrenal_small.npz") as f:
        np.savez(tmp_path / "adrenal_keys.npz", images=f["test_images"][1:2])
    open_page(browser, service, "adrenal")
    upload(browser, tmp_path / "adrenal_keys.npz")
    unlabelled = js(
        browser,
        """return [...document.querySelectorAll('input, select')]
        .filter((el) => !el.labels.length && !el.getAttribute('aria-label')).map((el) => el.id);""",
    )
    assert unlabelled == []
    assert (
        js(browser, "return document.getElementById('result').getAttribute('aria-live')")
        == "polite"
    )
    js(browser, "document.getElementById('model').focus();")  # the first control on the page
    reached = [browser.switch_to.active_element.get_attribute("id")]
    for _ in range(30):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        reached.append(browser.switch_to.active_element.get_attribute("id"))
    order = [i for i in reached if i in ("model", "file", "explain", "point", "slice-0", "window")]
    assert order[:6] == ["model", "file", "explain", "slice-0", "window", "point"], reached
    assert reached[1] == "card-link"  # the model card's link comes next to the model
