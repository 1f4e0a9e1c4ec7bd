// View of mlaas_widgets ImageLabeler and TableLabeler. Keys and clicks go to Python, which
// commits the label and sends the next item; nothing moves before that answer comes back.
const CSS = `
.mlaas-labeler { font: 14px/1.4 system-ui, sans-serif; outline: none; padding: 8px; border-radius: 6px;
  border: 2px solid transparent; max-width: 760px; }
.mlaas-labeler:focus, .mlaas-labeler.mlaas-global { border-color: #1976d2; }
.mlaas-labeler-top { display: flex; gap: 16px; align-items: center; margin-bottom: 8px; color: #444; }
.mlaas-labeler-bar { flex: 1; height: 8px; background: #e0e0e0; border-radius: 4px; overflow: hidden; }
.mlaas-labeler-bar > div { height: 100%; background: #1976d2; }
.mlaas-labeler-img { image-rendering: pixelated; border: 1px solid #ccc; background: #000; display: block; }
.mlaas-labeler-row { border-collapse: collapse; margin: 4px 0; }
.mlaas-labeler-row td { border: 1px solid #ddd; padding: 2px 8px; }
.mlaas-labeler-row td:first-child { font-weight: 600; background: #f5f5f5; }
.mlaas-labeler-suggestion { margin: 6px 0; color: #2e7d32; min-height: 1.4em; }
.mlaas-labeler-buttons { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0; }
.mlaas-labeler-buttons button { min-width: 44px; padding: 6px 10px; font-size: 15px; cursor: pointer;
  border: 1px solid #90a4ae; border-radius: 4px; background: #fff; }
.mlaas-labeler-buttons button.mlaas-suggested { border: 2px solid #2e7d32; }
.mlaas-labeler-buttons button.mlaas-current { background: #bbdefb; }
.mlaas-labeler-buttons kbd { font-size: 11px; color: #607d8b; margin-left: 4px; }
.mlaas-labeler-help, .mlaas-labeler-msg { color: #607d8b; font-size: 12px; }
`;

function keyName(e) {
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") return e.ctrlKey ? "ctrl+z" : "meta+z";
  if (e.ctrlKey || e.metaKey || e.altKey) return null;
  return e.key;
}

function editable(target) {
  return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

// A new element with a class name and, optionally, its text.
function h(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

function render({ model, el }) {
  const style = h("style", "", CSS);
  const root = h("div", "mlaas-labeler");
  root.tabIndex = 0;
  const progress = h("span", "mlaas-labeler-progress");
  const bar = h("div", "mlaas-labeler-bar");
  const fill = h("div");
  bar.append(fill);
  const rate = h("span");
  const modelInfo = h("span", "mlaas-labeler-model");
  const top = h("div", "mlaas-labeler-top");
  top.append(progress, bar, rate, modelInfo);
  const stage = h("div", "mlaas-labeler-stage");
  const suggestion = h("div", "mlaas-labeler-suggestion");
  const buttons = h("div", "mlaas-labeler-buttons");
  const msg = h("div", "mlaas-labeler-msg");
  const help = h("div", "mlaas-labeler-help",
    "keys: class key = label · Enter = accept suggestion · Backspace / Ctrl+Z = undo · S = skip · ← → = review");
  root.append(top, stage, suggestion, buttons, msg, help);
  el.append(style, root);

  const img = h("img", "mlaas-labeler-img");
  img.alt = "item to label";
  const table = h("table", "mlaas-labeler-row");

  const drawButtons = () => {
    const keys = model.get("key_map");
    const keyOf = {};
    for (const [k, c] of Object.entries(keys)) keyOf[c] = k;
    buttons.replaceChildren(...model.get("classes").map((c) => {
      const b = document.createElement("button");
      b.dataset.label = c;
      b.textContent = c;
      if (keyOf[c] !== undefined && keyOf[c] !== c) {
        const kbd = document.createElement("kbd");
        kbd.textContent = keyOf[c];
        b.append(kbd);
      }
      b.addEventListener("click", () => { model.send({ type: "click", label: c }); root.focus(); });
      return b;
    }));
  };

  const draw = () => {
    const item = model.get("item");
    const payload = model.get("payload");
    root.dataset.item = String(item);
    const total = model.get("total");
    const labeled = model.get("labeled");
    progress.textContent = `${labeled} / ${total} labeled`;
    fill.style.width = total ? `${(100 * labeled) / total}%` : "0";
    rate.textContent = model.get("rate") ? `${model.get("rate")} labels/min` : "";
    modelInfo.textContent = model.get("retraining") ? "retraining…" : model.get("model_info");
    if (item < 0) {
      stage.replaceChildren(document.createTextNode("Nothing left to label."));
    } else if (model.get("kind") === "image") {
      const size = model.get("display_size");
      img.width = size;
      img.height = size;
      if (img.src !== payload.src) img.src = payload.src || "";
      img.dataset.item = String(item);
      if (stage.firstChild !== img) stage.replaceChildren(img);
    } else {
      const entries = Object.entries(payload.row || {});
      if (payload.value !== undefined) entries.push([`${model.get("label_column")} (now)`, payload.value]);
      const rows = entries.map(([k, v]) => {
        const tr = h("tr");
        tr.append(h("td", "", k), h("td", "", v));
        return tr;
      });
      table.replaceChildren(...rows);
      table.dataset.item = String(item);
      if (stage.firstChild !== table) stage.replaceChildren(table);
    }
    const s = model.get("suggestion");
    suggestion.textContent = s ? `model suggests ${s} (${Math.round(100 * model.get("confidence"))}%) — Enter accepts` : "";
    for (const b of buttons.children) {
      b.classList.toggle("mlaas-suggested", b.dataset.label === s);
      b.classList.toggle("mlaas-current", b.dataset.label === model.get("current_label"));
    }
    msg.textContent = model.get("message");
    root.classList.toggle("mlaas-global", model.get("global_keys"));
  };

  const onKey = (e) => {
    if (editable(e.target)) return;
    if (!model.get("global_keys") && !root.contains(document.activeElement)) return;
    const key = keyName(e);
    if (key === null) return;
    const handled = key in model.get("key_map") || ["Backspace", "ctrl+z", "meta+z", "s", "S", "Enter", "ArrowLeft", "ArrowRight"].includes(key);
    if (!handled) return;
    e.preventDefault();
    e.stopPropagation();
    model.send({ type: "key", key });
  };
  // Dashboards take keys page-wide, so nobody has to hover or click first.
  document.addEventListener("keydown", onKey, true);

  for (const name of ["item", "payload", "labeled", "total", "rate", "suggestion", "confidence", "current_label", "message", "retraining", "model_info", "global_keys"]) {
    model.on(`change:${name}`, draw);
  }
  model.on("change:classes", () => { drawButtons(); draw(); });
  model.on("change:key_map", () => { drawButtons(); draw(); });
  drawButtons();
  draw();
  requestAnimationFrame(() => root.focus({ preventScroll: true }));
  return () => document.removeEventListener("keydown", onKey, true);
}

export default { render };
