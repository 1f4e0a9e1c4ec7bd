// View of mlaas_widgets.DigitCanvas: a black canvas drawn on with pointer events (mouse, touch,
// pen), a Clear button, Escape clears; each finished stroke sends a 28x28 MNIST-style image.
const CSS = `
.mlaas-canvas { font: 13px/1.4 system-ui, sans-serif; display: inline-flex; gap: 12px; align-items: flex-start; outline: none; }
.mlaas-canvas-pad { background: #000; cursor: crosshair; touch-action: none; border-radius: 4px; display: block; }
.mlaas-canvas-side { display: flex; flex-direction: column; gap: 6px; align-items: flex-start; }
.mlaas-canvas-preview { width: 84px; height: 84px; image-rendering: pixelated; background: #000; border: 1px solid #999; }
.mlaas-canvas-help { color: var(--jp-ui-font-color2, #555); max-width: 130px; }
.mlaas-canvas button { padding: 3px 12px; }
`;
const SIDE = 28;
const BOX = 20;

// MNIST's framing, as the endpoint frames an uploaded image (mlaas_kernel.serve._image): crop to
// the ink, scale the longer side to 20 pixels by area averaging, centre of mass at the centre of 28x28.
export function mnistStyle(values, width, height) {
  const out = new Float32Array(SIDE * SIDE);
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    if (values[y * width + x] > 0.05) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  if (x1 < 0) return null;
  let w = x1 - x0 + 1, h = y1 - y0 + 1;
  let crop = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) crop[y * w + x] = values[(y + y0) * width + x + x0];
  if (Math.max(w, h) < BOX) {  // enlarge small ink first (nearest), so every output pixel gets some
    const f = Math.ceil(BOX / Math.max(w, h));
    const big = new Float32Array(w * f * h * f);
    for (let y = 0; y < h * f; y++) for (let x = 0; x < w * f; x++) big[y * w * f + x] = crop[Math.floor(y / f) * w + Math.floor(x / f)];
    [crop, w, h] = [big, w * f, h * f];
  }
  const scale = BOX / Math.max(w, h);
  let total = 0, sx = 0, sy = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = crop[y * w + x];
    total += v; sx += v * (x + 0.5); sy += v * (y + 0.5);
  }
  const cx = sx / total, cy = sy / total;
  for (let y = 0; y < h; y++) {
    const r = Math.floor(SIDE / 2 + 0.5 + (y + 0.5 - cy) * scale);  // mass at pixel 14, as in MNIST
    if (r < 0 || r >= SIDE) continue;
    for (let x = 0; x < w; x++) {
      const c = Math.floor(SIDE / 2 + 0.5 + (x + 0.5 - cx) * scale);
      if (c >= 0 && c < SIDE) out[r * SIDE + c] += crop[y * w + x];
    }
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, out[i] * scale * scale);
  return out;
}

function render({ model, el }) {
  const style = document.createElement("style");
  style.textContent = CSS;
  const root = document.createElement("div");
  root.className = "mlaas-canvas";
  root.tabIndex = 0;
  const pad = document.createElement("canvas");
  pad.className = "mlaas-canvas-pad";
  const side = document.createElement("div");
  side.className = "mlaas-canvas-side";
  const clear = document.createElement("button");
  clear.textContent = "Clear";
  clear.className = "mlaas-canvas-clear";
  const preview = document.createElement("canvas");
  preview.className = "mlaas-canvas-preview";
  preview.width = preview.height = SIDE;
  preview.title = "what the model sees: 28x28, centred by mass";
  const help = document.createElement("div");
  help.className = "mlaas-canvas-help";
  help.textContent = "draw a digit · Esc clears";
  side.append(clear, preview, help);
  root.append(pad, side);
  el.append(style, root);
  const ctx = pad.getContext("2d", { willReadFrequently: true });

  const blank = () => {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
  };
  const resize = () => {
    const size = model.get("size");
    pad.width = pad.height = size;
    pad.style.width = pad.style.height = `${size}px`;
    blank();
  };
  const showPreview = () => {
    const pixels = model.get("pixels");
    const img = preview.getContext("2d").createImageData(SIDE, SIDE);
    for (let i = 0; i < SIDE * SIDE; i++) {
      const v = Math.round(255 * (pixels.length ? pixels[i] : 0));
      img.data.set([v, v, v, 255], i * 4);
    }
    preview.getContext("2d").putImageData(img, 0, 0);
    if (!pixels.length) blank();
  };
  const send = () => {
    const data = ctx.getImageData(0, 0, pad.width, pad.height).data;
    const values = new Float32Array(pad.width * pad.height);
    for (let i = 0; i < values.length; i++) values[i] = data[i * 4] / 255;
    const image = mnistStyle(values, pad.width, pad.height);
    model.set("pixels", image ? Array.from(image) : []);
    model.set("strokes", model.get("strokes") + 1);
    model.save_changes();
  };
  const wipe = () => {
    blank();
    model.set("pixels", []);
    model.set("strokes", 0);
    model.save_changes();
  };

  let drawing = null;
  const at = (e) => {
    const box = pad.getBoundingClientRect();
    return [(e.clientX - box.left) * pad.width / box.width, (e.clientY - box.top) * pad.height / box.height];
  };
  pad.addEventListener("pointerdown", (e) => {
    if (model.get("disabled") || e.button > 0) return;
    e.preventDefault();
    root.focus({ preventScroll: true });
    pad.setPointerCapture(e.pointerId);
    drawing = e.pointerId;
    ctx.strokeStyle = ctx.fillStyle = "#fff";
    ctx.lineWidth = model.get("line_width");
    ctx.lineCap = ctx.lineJoin = "round";
    const [x, y] = at(e);
    ctx.beginPath();
    ctx.arc(x, y, ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
    ctx.beginPath();
    ctx.moveTo(x, y);
  });
  pad.addEventListener("pointermove", (e) => {
    if (drawing !== e.pointerId) return;
    for (const p of (e.getCoalescedEvents ? e.getCoalescedEvents() : [e])) ctx.lineTo(...at(p));
    ctx.stroke();
  });
  const finish = (e) => {
    if (drawing !== e.pointerId) return;
    drawing = null;
    send();
  };
  pad.addEventListener("pointerup", finish);
  pad.addEventListener("pointercancel", finish);
  clear.addEventListener("click", wipe);
  root.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); wipe(); }
  });
  model.on("change:pixels", showPreview);
  model.on("change:size", resize);
  resize();
  showPreview();
}

export default { render };
