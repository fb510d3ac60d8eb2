// healthcnn page: pick a model, send a file to /v1/models/{name}/predict, show what came back.
// Plain JavaScript module, no build step, no external URL, no inline script (CSP-friendly).
import { decode, drawImage, drawPlane, drawSignal, planes, windowTable } from "./viewer.js";

const $ = (id) => document.getElementById(id);
const DIGITS = 3; // every probability, rate, threshold and score on the page

const state = {
  models: [],
  model: null, // the chosen model's /v1/models entry
  file: null, // the chosen File
  answer: null, // the last predict answer
  view: null, // its preview (and map) decoded
  slices: [0, 0, 0],
  request: 0, // id of the newest request: older answers are dropped
};

/** A number as the page shows it; the exact value goes into a data attribute beside it. */
export function fmt(v) {
  return Number.isFinite(v) ? v.toFixed(DIGITS) : "n/a";
}

function number(el, v) {
  el.textContent = fmt(v);
  el.dataset.value = String(v);
  return el;
}

function make(tag, cls, text) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text !== undefined) el.textContent = text;
  return el;
}

// -- errors and status ----------------------------------------------------------------------

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function errorText(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === "string") return `${response.status}: ${body.error}`;
  } catch (_) {
    // not JSON: show the start of the text below
  }
  return `${response.status} ${response.statusText}: ${text.slice(0, 200)}`;
}

function setStatus(text) {
  $("status").textContent = text;
}

// -- models ---------------------------------------------------------------------------------

async function loadModels() {
  let response;
  try {
    response = await fetch("/v1/models", { headers: { Accept: "application/json" } });
  } catch (err) {
    showError(`The service did not answer (${err.message}).`);
    return;
  }
  if (!response.ok) {
    showError(await errorText(response));
    return;
  }
  state.models = (await response.json()).models;
  const select = $("model");
  select.replaceChildren(...state.models.map((m) => new Option(`${m.name} (${m.task}, ${m.input.kind})`, m.name)));
  if (!state.models.length) showError("The service holds no model.");
  chooseModel();
}

function describe(m) {
  const shape = [m.input.channels, ...m.input.size].join("\u00d7");
  const trust = [m.prediction_sets && "prediction sets", m.abstention && "abstention"].filter(Boolean);
  return [
    `${m.task} task, ${m.input.kind} input ${shape}`,
    m.architecture,
    trust.length ? trust.join(" and ") : "no prediction sets or abstention",
    `version ${m.version.slice(0, 12)}`,
  ].filter(Boolean).join(" \u00b7 ");
}

async function chooseModel() {
  state.model = state.models.find((m) => m.name === $("model").value) || null;
  clearResult();
  if (!state.model) return;
  $("model-info").textContent = describe(state.model);
  fillPoints(state.model.operating_points);
  showCard(state.model);
  if (state.file) await score();
}

function showCard(m) {
  const link = $("card-link");
  const missing = $("card-missing");
  link.hidden = !m.card;
  missing.hidden = m.card;
  link.href = `/v1/models/${encodeURIComponent(m.name)}/card`;
  link.textContent = `Model card of ${m.name} (opens in a new tab)`;
  missing.textContent = "No model card in this bundle (healthcnn report BUNDLE -o BUNDLE/report.html writes one).";
}

function fillPoints(ops) {
  const points = ops ? ops.points : [];
  $("point").replaceChildren(...points.map((p) => new Option(p.name, p.name)));
  $("decision-box").hidden = !points.length;
  $("no-points").hidden = points.length > 0;
}

// -- scoring --------------------------------------------------------------------------------

async function score() {
  if (!state.model || !state.file) return;
  const id = ++state.request;
  const params = new URLSearchParams({ preview: "true" });
  if ($("explain").checked) params.set("explain", "gradcam");
  const form = new FormData();
  form.append("file", state.file, state.file.name);
  showError("");
  setStatus(`Scoring ${state.file.name} with ${state.model.name}\u2026`);
  $("result").setAttribute("aria-busy", "true");
  try {
    const url = `/v1/models/${encodeURIComponent(state.model.name)}/predict?${params}`;
    const response = await fetch(url, { method: "POST", body: form });
    if (id !== state.request) return;
    if (!response.ok) {
      clearResult();
      showError(await errorText(response));
      setStatus(`${state.file.name} was not scored.`);
      return;
    }
    showAnswer(await response.json());
  } catch (err) {
    if (id !== state.request) return;
    clearResult();
    showError(`The service did not answer (${err.message}).`);
  } finally {
    if (id === state.request) $("result").setAttribute("aria-busy", "false");
  }
}

function showAnswer(answer) {
  state.answer = answer;
  state.view = decode(answer.preview, answer.saliency ? answer.saliency.map : null);
  const shape = state.view.kind === "array" ? state.view.shape : null;
  state.slices = shape && shape.length === 4 ? shape.slice(1).map((n) => Math.floor(n / 2)) : [0, 0, 0];
  const row = answer.results[0];
  setStatus(`${state.file.name} scored by ${answer.model} in ${Math.round(answer.time_ms)} ms.`);
  $("outcome").hidden = false;
  $("abstain").hidden = row.abstain !== true;
  showProbabilities(row);
  showDecision();
  showSet(row);
  showSaliency(answer.saliency);
  $("meta").textContent = `Model ${answer.model}, version ${answer.version.slice(0, 12)}`;
  buildViewer();
}

function clearResult() {
  state.answer = null;
  state.view = null;
  $("outcome").hidden = true;
  $("abstain").hidden = true;
  $("viewer").replaceChildren();
  $("display").hidden = true;
  $("legend").hidden = true;
  setStatus(state.file ? "" : "Choose a model and a file.");
}

// -- result sections ------------------------------------------------------------------------

function showProbabilities(row) {
  const names = state.model.classes.filter((c) => c in row.probabilities);
  const entries = names.map((c) => [c, row.probabilities[c]]);
  const top = entries.reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  const inSet = new Set(row.set || []);
  $("probs").replaceChildren(...entries.map(([name, p]) => {
    const li = make("li", name === top ? "prob top" : "prob");
    li.dataset.class = name;
    const label = make("span", "prob-name", name);
    const track = make("span", "prob-track");
    track.setAttribute("aria-hidden", "true");
    const fill = make("span", "prob-fill");
    fill.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
    track.append(fill);
    const value = number(make("span", "prob-value"), p);
    li.append(label, track, value);
    if (row.set && inSet.has(name)) li.append(make("span", "tag", "in set"));
    return li;
  }));
}

function showDecision() {
  const ops = state.model?.operating_points;
  const row = state.answer?.results[0];
  if (!ops || !row || !row.decisions) return;
  const point = ops.points.find((p) => p.name === $("point").value) || ops.points[0];
  const positive = row.decisions[point.name] === true;
  const label = positiveLabel(ops);
  const decision = $("decision");
  decision.className = positive ? "decision positive" : "decision negative";
  decision.textContent = `${positive ? "Positive" : "Negative"} for ${label} at ${point.name}`;
  decision.dataset.positive = String(positive);
  const score = ops.positive.reduce((s, c) => s + (row.probabilities[c] || 0), 0);
  const stats = [
    [`Score: P(${ops.positive.join("+")})`, score],
    ["Threshold", point.threshold],
    ["Validation sensitivity", point.val_sensitivity],
    ["Validation specificity", point.val_specificity],
  ];
  $("point-stats").replaceChildren(...stats.flatMap(([name, v], i) => {
    const dd = number(make("dd"), v);
    dd.id = ["score", "threshold", "sensitivity", "specificity"][i];
    return [make("dt", null, name), dd];
  }));
}

/** What the positive side of the binary view is called: its name ("referable"), else its
 * classes ("class 1", "classes 2+3+4"). */
function positiveLabel(ops) {
  const joined = ops.positive.join("+");
  const name = ops.name.replace(/^positive:\s*/, "");
  if (name && name !== joined) return name;
  return `${ops.positive.length === 1 ? "class" : "classes"} ${joined}`;
}

function showSet(row) {
  const set = $("set");
  if (!row.set) {
    set.textContent = "Not fitted for this bundle (healthcnn calibrate fits it).";
    set.className = "muted";
    return;
  }
  set.className = "set";
  set.textContent = row.set.length ? `{ ${row.set.join(", ")} }` : "{ } (empty: no class is plausible enough)";
}

function showSaliency(saliency) {
  const box = $("saliency");
  box.hidden = !saliency || !$("explain").checked;
  if (!saliency) return;
  const s = saliency.sanity;
  const verdict = $("verdict");
  verdict.className = s.verdict === "pass" ? "verdict pass" : "verdict fail";
  verdict.textContent = `Sanity check: ${s.verdict.toUpperCase()} (${s.test}: Spearman ${fmt(s.spearman)}, SSIM ${fmt(s.ssim)}, threshold ${fmt(s.threshold)})`;
  verdict.dataset.verdict = s.verdict;
  $("saliency-figure").src = saliency.figure;
  $("saliency-figure").alt = `${saliency.method} map for class ${saliency.class} beside the input`;
  $("saliency-caption").textContent = `${saliency.method} for class ${saliency.class}; the overlay on the input above shows the same map.`;
}

// -- the viewer -----------------------------------------------------------------------------

function look() {
  const grey = state.view.kind === "array" && state.view.shape[0] === 1;
  const table = grey ? windowTable(Number($("window").value), Number($("level").value)) : windowTable(255, 128);
  return { table, overlay: $("explain").checked, spacing: state.model?.input.spacing };
}

function buildViewer() {
  const viewer = $("viewer");
  viewer.replaceChildren();
  const view = state.view;
  if (!view) return;
  if (view.kind === "signal") {
    const canvas = make("canvas", "strip");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `ECG strip, ${view.values.length} leads`);
    viewer.append(canvas);
  } else if (view.shape.length === 3) {
    const canvas = make("canvas", "image");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `Input image, ${view.shape.slice(1).join(" by ")} pixels`);
    viewer.append(canvas);
  } else {
    viewer.append(...["D", "H", "W"].map((axis, i) => planeFigure(axis, i)));
  }
  $("display").hidden = !(view.kind === "array" && view.shape[0] === 1);
  draw();
}

function planeFigure(axis, i) {
  const n = state.view.shape[i + 1];
  const fig = make("figure", "plane");
  const canvas = make("canvas");
  canvas.id = `plane-${i}`;
  canvas.setAttribute("role", "img");
  canvas.addEventListener("click", (e) => pick(i, canvas, e));
  const slider = make("input");
  Object.assign(slider, { type: "range", id: `slice-${i}`, min: "0", max: String(n - 1), step: "1" });
  slider.value = String(state.slices[i]);
  slider.addEventListener("input", () => {
    state.slices[i] = Number(slider.value);
    draw();
  });
  const label = make("label", "small");
  label.htmlFor = slider.id;
  const out = make("output", "small");
  out.id = `slice-${i}-value`;
  label.textContent = `Slice across ${axis}`;
  fig.append(canvas, make("figcaption"));
  fig.lastChild.append(label, out, slider);
  return fig;
}

/** A click on a plane moves the other two slices to the clicked point. */
function pick(i, canvas, event) {
  const rect = canvas.getBoundingClientRect();
  const p = planes(state.view.shape, state.slices)[i];
  const row = Math.floor(((event.clientY - rect.top) / rect.height) * p.rows);
  const col = Math.floor(((event.clientX - rect.left) / rect.width) * p.cols);
  const axes = [[1, 2], [0, 2], [0, 1]][i];
  state.slices[axes[0]] = Math.max(0, Math.min(p.rows - 1, row));
  state.slices[axes[1]] = Math.max(0, Math.min(p.cols - 1, col));
  axes.forEach((a) => { $(`slice-${a}`).value = String(state.slices[a]); });
  draw();
}

function draw() {
  const view = state.view;
  if (!view) return;
  $("legend").hidden = !($("explain").checked && view.heat);
  $("window-value").textContent = $("window").value;
  $("level-value").textContent = $("level").value;
  if (view.kind === "signal") {
    drawSignal($("viewer").querySelector("canvas"), view, $("explain").checked);
  } else if (view.shape.length === 3) {
    drawImage($("viewer").querySelector("canvas"), view, look());
  } else {
    const lk = look();
    planes(view.shape, state.slices).forEach((p, i) => {
      const canvas = $(`plane-${i}`);
      drawPlane(canvas, view, p, lk);
      const n = view.shape[i + 1];
      $(`slice-${i}-value`).textContent = `${state.slices[i] + 1} / ${n}`;
      canvas.setAttribute("aria-label", `Volume slice ${state.slices[i] + 1} of ${n} across ${"DHW"[i]}`);
    });
  }
}

// -- input ----------------------------------------------------------------------------------

function chooseFile(file) {
  if (!file) return;
  state.file = file;
  score();
}

function wireDrop() {
  const drop = $("drop");
  const over = (on) => (e) => {
    e.preventDefault();
    drop.classList.toggle("over", on);
  };
  drop.addEventListener("dragenter", over(true));
  drop.addEventListener("dragover", over(true));
  drop.addEventListener("dragleave", over(false));
  drop.addEventListener("drop", (e) => {
    over(false)(e);
    chooseFile(e.dataTransfer.files[0]);
  });
}

function toggleExplain() {
  const wanted = $("explain").checked;
  if (wanted && state.file && !state.answer?.saliency) {
    score();
    return;
  }
  showSaliency(state.answer?.saliency || null);
  draw();
}

function resetDisplay() {
  $("window").value = "255";
  $("level").value = "128";
  draw();
}

function wire() {
  $("model").addEventListener("change", chooseModel);
  $("file").addEventListener("change", () => chooseFile($("file").files[0]));
  $("explain").addEventListener("change", toggleExplain);
  $("point").addEventListener("change", showDecision);
  $("window").addEventListener("input", draw);
  $("level").addEventListener("input", draw);
  $("reset-display").addEventListener("click", resetDisplay);
  window.addEventListener("resize", () => state.view?.kind === "signal" && draw());
  wireDrop();
  loadModels();
}

wire();
