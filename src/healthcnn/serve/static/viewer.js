// healthcnn page: drawing the input as the model saw it (the API's `preview`) and its saliency
// map (the API's `saliency.map`) on canvases. Images and volumes arrive as uint8 C-order
// arrays; window/level only changes how the uint8 values are shown, never what was scored.

const IMAGE_SIDE = 320; // largest side of a 2D image on screen, CSS px
const PLANE_SIDE = 200; // largest side of one volume plane on screen, CSS px
const STRIP_HEIGHT = 600; // height of the whole ECG strip, CSS px (36 to 72 px a lead)

/** Decode a base64 string into bytes. */
function bytes(b64) {
  const text = atob(b64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) out[i] = text.charCodeAt(i);
  return out;
}

/** The API's preview (and saliency map, or null) as arrays the views draw. */
export function decode(preview, map) {
  const heat = map ? bytes(map.data) : null;
  if (preview.dtype === "uint8") {
    return { kind: "array", shape: preview.shape, data: bytes(preview.data), heat };
  }
  return {
    kind: "signal",
    values: preview.values,
    leads: preview.leads || [],
    step: preview.step || 1,
    heat,
  };
}

/** Window (width) and level (centre) over the uint8 range: a lookup table value -> grey. */
export function windowTable(width, level) {
  const table = new Uint8ClampedArray(256);
  const low = level - width / 2;
  for (let v = 0; v < 256; v += 1) table[v] = Math.round(((v - low) / width) * 255);
  return table;
}

/** An approximation of the "inferno" colour scale: heat 0..255 -> [r, g, b]. */
const STOPS = [
  [0, 0, 0, 4],
  [64, 87, 16, 110],
  [128, 188, 55, 84],
  [192, 249, 142, 9],
  [255, 252, 255, 164],
];

function heatColour(h) {
  let i = 1;
  while (i < STOPS.length - 1 && h > STOPS[i][0]) i += 1;
  const [h0, ...c0] = STOPS[i - 1];
  const [h1, ...c1] = STOPS[i];
  const t = (h - h0) / (h1 - h0);
  return c0.map((c, k) => Math.round(c + t * (c1[k] - c)));
}

const HEAT_RGB = Array.from({ length: 256 }, (_, h) => heatColour(h));

/** Pixels of one plane: `at(row, col)` gives the offset of channel 0 in the C-order data. */
function planePixels(img, rows, cols, at, look) {
  const { data, channels, plane, heat, table, overlay } = look;
  const px = new ImageData(cols, rows);
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < cols; c += 1) {
      const o = at(r, c);
      const k = (r * cols + c) * 4;
      const rgb = channels >= 3
        ? [data[o], data[o + plane], data[o + 2 * plane]].map((v) => table[v])
        : [table[data[o]], table[data[o]], table[data[o]]];
      const a = overlay && heat ? (heat[o] / 255) * 0.6 : 0;
      const hc = a > 0 ? HEAT_RGB[heat[o]] : rgb;
      for (let j = 0; j < 3; j += 1) px.data[k + j] = Math.round((1 - a) * rgb[j] + a * hc[j]);
      px.data[k + 3] = 255;
    }
  }
  return px;
}

/** Draw `px` (native size) onto `canvas` scaled to fit `side` CSS px, keeping `aspect`
 * (row spacing / column spacing), pixels shown as squares (no smoothing). */
function blit(canvas, px, side, aspect) {
  const h = px.height * aspect;
  const scale = side / Math.max(px.width, h);
  canvas.width = Math.max(1, Math.round(px.width * scale));
  canvas.height = Math.max(1, Math.round(h * scale));
  const native = document.createElement("canvas");
  native.width = px.width;
  native.height = px.height;
  native.getContext("2d").putImageData(px, 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(native, 0, 0, canvas.width, canvas.height);
  return ctx;
}

/** A 2D image (C, H, W). */
export function drawImage(canvas, view, look) {
  const [channels, rows, cols] = view.shape;
  const plane = rows * cols;
  const px = planePixels(view, rows, cols, (r, c) => r * cols + c, {
    ...look, data: view.data, heat: view.heat, channels, plane,
  });
  blit(canvas, px, IMAGE_SIDE, 1);
}

/** The three planes of a volume (C, D, H, W) through `slices` = [d, h, w]: for each axis,
 * the plane's rows and columns, the offset of a (row, col) pixel, and where the other two
 * slices cross it (for the cross-hair). */
export function planes(shape, slices) {
  const [, D, H, W] = shape;
  const [d, h, w] = slices;
  return [
    { axis: 0, rows: H, cols: W, at: (r, c) => d * H * W + r * W + c, cross: [h, w] },
    { axis: 1, rows: D, cols: W, at: (r, c) => r * H * W + h * W + c, cross: [d, w] },
    { axis: 2, rows: D, cols: H, at: (r, c) => r * H * W + c * W + w, cross: [d, h] },
  ];
}

/** The spacing of a plane's rows over its columns' ([D, H, W] spacing, or null: isotropic). */
function planeAspect(axis, spacing) {
  if (!spacing || spacing.length !== 3) return 1;
  const [rowAxis, colAxis] = [[1, 2], [0, 2], [0, 1]][axis];
  return spacing[rowAxis] / spacing[colAxis];
}

/** One plane of a volume with its cross-hair. */
export function drawPlane(canvas, view, p, look) {
  const [channels, D, H, W] = view.shape;
  const px = planePixels(view, p.rows, p.cols, p.at, {
    ...look, data: view.data, heat: view.heat, channels, plane: D * H * W,
  });
  const ctx = blit(canvas, px, PLANE_SIDE, planeAspect(p.axis, look.spacing));
  const sy = canvas.height / p.rows;
  const sx = canvas.width / p.cols;
  ctx.strokeStyle = "rgba(80, 200, 255, 0.7)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, (p.cross[0] + 0.5) * sy);
  ctx.lineTo(canvas.width, (p.cross[0] + 0.5) * sy);
  ctx.moveTo((p.cross[1] + 0.5) * sx, 0);
  ctx.lineTo((p.cross[1] + 0.5) * sx, canvas.height);
  ctx.stroke();
}

/** The ECG strip: one row per lead, each scaled to its own range, on a light grid; the
 * saliency map (when shown) shades the samples behind the trace. */
export function drawSignal(canvas, view, overlay) {
  const width = Math.max(320, canvas.parentElement.clientWidth - 2);
  const n = view.values.length;
  const lead = Math.max(36, Math.min(72, Math.floor(STRIP_HEIGHT / Math.max(1, n))));
  canvas.width = width;
  canvas.height = n * lead;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, width, canvas.height);
  const left = 44;
  view.values.forEach((values, i) => {
    const row = { left, top: i * lead, width, height: lead };
    gridRow(ctx, row);
    if (overlay && view.heat) shade(ctx, view, values.length, row);
    trace(ctx, values, row);
    ctx.fillStyle = "#334155";
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillText(view.leads[i] || `lead ${i + 1}`, 6, row.top + lead / 2 + 4);
  });
}

function gridRow(ctx, { left, top, width, height }) {
  ctx.strokeStyle = "#f1d5d5";
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let x = left; x <= width; x += (width - left) / 25) {
    ctx.moveTo(Math.round(x) + 0.5, top);
    ctx.lineTo(Math.round(x) + 0.5, top + height);
  }
  ctx.moveTo(left, top + height - 0.5);
  ctx.lineTo(width, top + height - 0.5);
  ctx.stroke();
}

function shade(ctx, view, samples, { left, top, width, height }) {
  const dx = (width - left) / samples;
  for (let i = 0; i < samples; i += 1) {
    const h = view.heat[Math.min(view.heat.length - 1, i * view.step)];
    if (h < 8) continue;
    const [r, g, b] = HEAT_RGB[h];
    ctx.fillStyle = `rgba(${r}, ${g}, ${b}, ${((h / 255) * 0.3).toFixed(3)})`;
    ctx.fillRect(left + i * dx, top, Math.ceil(dx), height);
  }
}

function trace(ctx, values, { left, top, width, height }) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi > lo ? hi - lo : 1;
  const dx = (width - left) / Math.max(1, values.length - 1);
  ctx.strokeStyle = "#0f172a";
  ctx.lineWidth = 1.2;
  ctx.beginPath();
  values.forEach((v, i) => {
    const y = top + 5 + (1 - (v - lo) / span) * (height - 10);
    if (i === 0) ctx.moveTo(left, y);
    else ctx.lineTo(left + i * dx, y);
  });
  ctx.stroke();
}
