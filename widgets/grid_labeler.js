// View of mlaas_widgets.GridLabeler: thumbnails with the model's guesses; click, key, Enter.
const CSS = `
.mlaas-grid { font: 13px/1.3 system-ui, sans-serif; outline: none; }
.mlaas-grid-tiles { display: grid; gap: 6px; }
.mlaas-grid-tile { border: 2px solid #ccc; border-radius: 4px; padding: 2px; text-align: center; cursor: pointer; }
.mlaas-grid-tile img { width: 84px; height: 84px; image-rendering: pixelated; display: block; margin: auto; }
.mlaas-grid-tile.mlaas-selected { border-color: #d32f2f; }
.mlaas-grid-tile.mlaas-fixed { border-color: #1976d2; }
.mlaas-grid-msg { color: #607d8b; margin: 6px 0; }
`;

function render({ model, el }) {
  const style = document.createElement("style");
  style.textContent = CSS;
  const root = document.createElement("div");
  root.className = "mlaas-grid";
  root.tabIndex = 0;
  const head = document.createElement("div");
  const grid = document.createElement("div");
  grid.className = "mlaas-grid-tiles";
  const msg = document.createElement("div");
  msg.className = "mlaas-grid-msg";
  const help = document.createElement("div");
  help.className = "mlaas-grid-msg";
  help.textContent = "click a wrong tile, press its class key · Enter accepts the page · N skips it";
  root.append(head, grid, msg, help);
  el.append(style, root);

  const draw = () => {
    head.textContent = `${model.get("labeled")} / ${model.get("total")} labeled`;
    const selected = model.get("selected");
    const tiles = model.get("tiles");
    grid.style.gridTemplateColumns = `repeat(${Math.min(5, Math.max(tiles.length, 1))}, 96px)`;
    grid.replaceChildren(...tiles.map((t) => {
      const d = document.createElement("div");
      d.className = "mlaas-grid-tile" + (t.item === selected ? " mlaas-selected" : "") + (t.fixed ? " mlaas-fixed" : "");
      d.dataset.item = String(t.item);
      const img = document.createElement("img");
      img.src = t.src;
      const cap = document.createElement("div");
      cap.textContent = t.label || "?";
      d.append(img, cap);
      d.addEventListener("click", () => { model.send({ type: "select", item: t.item }); root.focus(); });
      return d;
    }));
    msg.textContent = model.get("message");
  };
  root.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key in model.get("key_map") || ["Enter", "n", "N"].includes(e.key)) {
      e.preventDefault();
      e.stopPropagation();
      model.send({ type: "key", key: e.key });
    }
  });
  for (const name of ["tiles", "selected", "message", "labeled", "total"]) model.on(`change:${name}`, draw);
  draw();
}

export default { render };
