// View of mlaas_widgets ImageLabeler and TableLabeler. Keys and clicks go to Python, which
// commits the label and sends the next item; nothing moves before that answer comes back.
// A key stays marked "pending" until Python acknowledges it, and a heartbeat shows within
// 2 s when the kernel (or the server) stops answering.
const CSS = `
.mlaas-labeler { font: 14px/1.4 system-ui, sans-serif; outline: none; padding: 8px; border-radius: 6px;
  border: 2px solid transparent; max-width: 760px; }
.mlaas-labeler:focus, .mlaas-labeler.mlaas-global { border-color: #1976d2; }
.mlaas-labeler[data-connection="lost"] { border-color: #c62828; }
.mlaas-labeler-offline { display: none; background: #c62828; color: #fff; padding: 6px 10px; border-radius: 4px;
  margin-bottom: 8px; font-weight: 600; }
.mlaas-labeler[data-connection="lost"] .mlaas-labeler-offline { display: block; }
.mlaas-labeler-top { display: flex; gap: 16px; align-items: center; margin-bottom: 8px; color: #444; }
.mlaas-labeler-bar { flex: 1; height: 8px; background: #e0e0e0; border-radius: 4px; overflow: hidden; display: flex; }
.mlaas-labeler-bar > div { height: 100%; background: #1976d2; }
.mlaas-labeler-bar > div.mlaas-skipped-fill { background: #b0bec5; }
.mlaas-labeler-skipped button { font-size: 12px; margin-left: 4px; cursor: pointer; }
.mlaas-labeler-img { image-rendering: pixelated; border: 1px solid #ccc; background: #000; display: block; }
.mlaas-labeler-row { border-collapse: collapse; margin: 4px 0; }
.mlaas-labeler-row td { border: 1px solid #ddd; padding: 2px 8px; }
.mlaas-labeler-row td:first-child { font-weight: 600; background: #f5f5f5; }
.mlaas-labeler-suggestion { margin: 6px 0; color: #2e7d32; min-height: 1.4em; }
.mlaas-labeler-reason, .mlaas-labeler-status { color: #546e7a; font-size: 12px; min-height: 1.2em; }
.mlaas-labeler-error { color: #b71c1c; font-weight: 600; }
.mlaas-labeler-error:empty { display: none; }
.mlaas-labeler-pending { color: #e65100; font-size: 12px; min-height: 1.2em; }
.mlaas-labeler-buttons { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0; }
.mlaas-labeler-buttons button { min-width: 44px; padding: 6px 10px; font-size: 15px; cursor: pointer;
  border: 1px solid #90a4ae; border-radius: 4px; background: #fff; }
.mlaas-labeler-buttons button.mlaas-suggested { border: 2px solid #2e7d32; }
.mlaas-labeler-buttons button.mlaas-current { background: #bbdefb; }
.mlaas-labeler-buttons kbd { font-size: 11px; color: #607d8b; margin-left: 4px; }
.mlaas-labeler-help, .mlaas-labeler-msg { color: #607d8b; font-size: 12px; }
`;
const PING_MS = 300; // heartbeat period
const LOST_MS = 1200; // no word from the kernel for this long: the connection is shown as lost
const ITEM_KEYS = ["Enter", "s", "S"];
const OTHER_KEYS = ["Backspace", "ctrl+z", "meta+z", "ArrowLeft", "ArrowRight", "R"];

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

// Watches the kernel: a ping every PING_MS, and anything heard from it counts as alive.
// Calls onChange(alive) when that flips. Returns {heard, stop}.
function heartbeat(model, onChange) {
  let last = performance.now();
  let alive = true;
  const heard = () => {
    last = performance.now();
    if (!alive) { alive = true; onChange(true); }
  };
  const ping = setInterval(() => {
    try { model.send({ type: "ping" }); } catch (err) { /* a closed connection: the watch below says so */ }
  }, PING_MS);
  const watch = setInterval(() => {
    if (alive && performance.now() - last > LOST_MS) { alive = false; onChange(false); }
  }, PING_MS / 2);
  return { heard, stop: () => { clearInterval(ping); clearInterval(watch); } };
}

// Keys sent to the kernel and not acknowledged yet. Returns {send, ack, list}.
function pendingKeys(model, onChange) {
  let seq = 0;
  const waiting = new Map();
  const send = (message, label) => {
    seq += 1;
    waiting.set(seq, label);
    onChange();
    try { model.send({ ...message, seq }); } catch (err) { /* stays pending */ }
  };
  const ack = (n) => { if (waiting.delete(n)) onChange(); };
  return { send, ack, list: () => [...waiting.values()] };
}

function layout() {
  const parts = {
    root: h("div", "mlaas-labeler"),
    offline: h("div", "mlaas-labeler-offline"),
    progress: h("span", "mlaas-labeler-progress"),
    skipped: h("span", "mlaas-labeler-skipped"),
    bar: h("div", "mlaas-labeler-bar"),
    fill: h("div"),
    skipFill: h("div", "mlaas-skipped-fill"),
    rate: h("span"),
    modelInfo: h("span", "mlaas-labeler-model"),
    stage: h("div", "mlaas-labeler-stage"),
    suggestion: h("div", "mlaas-labeler-suggestion"),
    reason: h("div", "mlaas-labeler-reason"),
    buttons: h("div", "mlaas-labeler-buttons"),
    pending: h("div", "mlaas-labeler-pending"),
    msg: h("div", "mlaas-labeler-msg"),
    error: h("div", "mlaas-labeler-error"),
    status: h("div", "mlaas-labeler-status"),
    help: h("div", "mlaas-labeler-help",
      "keys: class key = label · Enter = accept suggestion · Backspace / Ctrl+Z = undo (labels and skips) · S = skip · " +
      "Shift+R = bring skipped items back · ← → = review"),
    img: h("img", "mlaas-labeler-img"),
    table: h("table", "mlaas-labeler-row"),
  };
  const p = parts;
  p.root.tabIndex = 0;
  p.root.dataset.connection = "ok";
  p.img.alt = "item to label";
  p.bar.append(p.fill, p.skipFill);
  const top = h("div", "mlaas-labeler-top");
  top.append(p.progress, p.skipped, p.bar, p.rate, p.modelInfo);
  p.root.append(p.offline, top, p.stage, p.suggestion, p.reason, p.buttons, p.pending, p.msg, p.error, p.status, p.help);
  return parts;
}

function drawStage(model, p, item) {
  const payload = model.get("payload");
  if (item < 0) {
    p.stage.replaceChildren(document.createTextNode("Nothing left to label."));
  } else if (model.get("kind") === "image") {
    const size = model.get("display_size");
    p.img.width = size;
    p.img.height = size;
    if (p.img.src !== payload.src) p.img.src = payload.src || "";
    p.img.dataset.item = String(item);
    if (p.stage.firstChild !== p.img) p.stage.replaceChildren(p.img);
  } else {
    const entries = Object.entries(payload.row || {});
    if (payload.value !== undefined) entries.push([`${model.get("label_column")} (now)`, payload.value]);
    p.table.replaceChildren(...entries.map(([k, v]) => {
      const tr = h("tr");
      tr.append(h("td", "", k), h("td", "", v));
      return tr;
    }));
    p.table.dataset.item = String(item);
    if (p.stage.firstChild !== p.table) p.stage.replaceChildren(p.table);
  }
}

function drawProgress(model, p, revisit) {
  const total = model.get("total");
  const labeled = model.get("labeled");
  const skipped = model.get("skipped");
  p.progress.textContent = `${labeled} / ${total} labeled`;
  p.skipped.replaceChildren();
  if (skipped) {
    p.skipped.append(document.createTextNode(`${skipped} skipped`));
    const again = h("button", "mlaas-labeler-revisit", "bring back");
    again.title = "Shift+R: the skipped items come next";
    again.addEventListener("click", revisit);
    p.skipped.append(again);
  }
  p.fill.style.width = total ? `${(100 * labeled) / total}%` : "0";
  p.skipFill.style.width = total ? `${(100 * skipped) / total}%` : "0";
  p.rate.textContent = model.get("rate") ? `${model.get("rate")} labels/min` : "";
  p.modelInfo.textContent = model.get("retraining") ? "retraining…" : model.get("model_info");
}

function drawSuggestion(model, p, item) {
  const mine = model.get("suggestion_item") === item;
  const s = mine ? model.get("suggestion") : "";
  p.suggestion.textContent = s ? `model suggests ${s} (${Math.round(100 * model.get("confidence"))}%) — Enter accepts` : "";
  p.reason.textContent = model.get("reason") ? `why this item: ${model.get("reason")}` : "";
  for (const b of p.buttons.children) {
    b.classList.toggle("mlaas-suggested", b.dataset.label === s);
    b.classList.toggle("mlaas-current", b.dataset.label === model.get("current_label"));
  }
}

function render({ model, el }) {
  const p = layout();
  el.append(h("style", "", CSS), p.root);

  const drawPending = () => {
    const keys = pending.list();
    const lost = p.root.dataset.connection === "lost";
    p.pending.textContent = keys.length ? `${lost ? "pending, not saved" : "saving"}: ${keys.join(", ")}` : "";
  };
  const pending = pendingKeys(model, drawPending);
  const beat = heartbeat(model, (alive) => {
    p.root.dataset.connection = alive ? "ok" : "lost";
    p.offline.textContent = alive ? "" :
      "Connection to the kernel lost (or it is busy): nothing is saved until it answers again. Keys pressed now stay pending.";
    drawPending();
  });
  const item = () => model.get("item");
  const sendKey = (key) => pending.send({ type: "key", key, item: item() }, `${key} on #${item()}`);
  const revisit = () => { sendKey("R"); p.root.focus(); };

  const drawButtons = () => {
    const keyOf = {};
    for (const [k, c] of Object.entries(model.get("key_map"))) keyOf[c] = k;
    p.buttons.replaceChildren(...model.get("classes").map((c) => {
      const b = h("button", "", c);
      b.dataset.label = c;
      if (keyOf[c] !== undefined && keyOf[c] !== c) b.append(h("kbd", "", keyOf[c]));
      b.addEventListener("click", () => {
        pending.send({ type: "click", label: c, item: item() }, `${c} on #${item()}`);
        p.root.focus();
      });
      return b;
    }));
  };

  const draw = () => {
    const shown = item();
    p.root.dataset.item = String(shown);
    p.root.dataset.retraining = String(model.get("retraining"));
    drawProgress(model, p, revisit);
    drawStage(model, p, shown);
    drawSuggestion(model, p, shown);
    p.msg.textContent = model.get("message");
    p.error.textContent = model.get("model_error") ?
      `Retraining failed: ${model.get("model_error")}. Labels are still saved; the order and suggestions come from the last model that worked.` : "";
    p.status.textContent = model.get("model_status") ? `learner: ${model.get("model_status")}` : "";
    p.root.classList.toggle("mlaas-global", model.get("global_keys"));
  };

  const onKey = (e) => {
    if (editable(e.target)) return;
    if (!model.get("global_keys") && !p.root.contains(document.activeElement)) return;
    const key = keyName(e);
    if (key === null) return;
    if (!(key in model.get("key_map") || ITEM_KEYS.includes(key) || OTHER_KEYS.includes(key))) return;
    e.preventDefault();
    e.stopPropagation();
    sendKey(key);
  };
  // Dashboards take keys page-wide, so nobody has to hover or click first.
  document.addEventListener("keydown", onKey, true);
  model.on("msg:custom", (msg) => {
    beat.heard();
    if (msg && msg.type === "ack") pending.ack(msg.seq);
  });
  const names = ["item", "payload", "labeled", "skipped", "total", "rate", "suggestion", "suggestion_item", "confidence", "reason",
    "current_label", "message", "retraining", "model_info", "model_status", "model_error", "global_keys"];
  for (const name of names) {
    model.on(`change:${name}`, () => { beat.heard(); draw(); });
  }
  model.on("change:classes", () => { drawButtons(); draw(); });
  model.on("change:key_map", () => { drawButtons(); draw(); });
  drawButtons();
  draw();
  requestAnimationFrame(() => p.root.focus({ preventScroll: true }));
  return () => {
    beat.stop();
    document.removeEventListener("keydown", onKey, true);
  };
}

export default { render };
