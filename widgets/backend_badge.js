// View of mlaas_widgets.BackendBadge: a coloured pill, and the fallbacks under it when open.
const CSS = `
.mlaas-badge { font: 13px/1.4 system-ui, sans-serif; margin: 4px 0; }
.mlaas-badge-pill { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff;
  font-weight: 600; cursor: pointer; user-select: none; }
.mlaas-badge-gpu .mlaas-badge-pill { background: #2e7d32; }
.mlaas-badge-cpu .mlaas-badge-pill { background: #b26a00; }
.mlaas-badge-detail { margin-left: 8px; color: var(--jp-ui-font-color1, #333); }
.mlaas-badge-list { margin: 4px 0 0 0; padding-left: 20px; color: var(--jp-ui-font-color2, #555); }
`;

function render({ model, el }) {
  const style = document.createElement("style");
  style.textContent = CSS;
  const root = document.createElement("div");
  const pill = document.createElement("span");
  pill.className = "mlaas-badge-pill";
  pill.setAttribute("role", "button");
  pill.tabIndex = 0;
  const detail = document.createElement("span");
  detail.className = "mlaas-badge-detail";
  const list = document.createElement("ul");
  list.className = "mlaas-badge-list";
  root.append(pill, detail, list);
  el.append(style, root);

  const draw = () => {
    const device = model.get("device");
    const fallbacks = model.get("fallbacks");
    root.className = `mlaas-badge mlaas-badge-${device}`;
    root.dataset.device = device;
    pill.textContent = device.toUpperCase() + (fallbacks.length ? ` · ${fallbacks.length} fallback${fallbacks.length > 1 ? "s" : ""}` : "");
    detail.textContent = model.get("detail");
    list.replaceChildren(...fallbacks.map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
    list.hidden = !model.get("expanded");
  };
  const toggle = () => {
    model.set("expanded", !model.get("expanded"));
    model.save_changes();
  };
  pill.addEventListener("click", toggle);
  pill.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); } });
  for (const name of ["device", "detail", "fallbacks", "expanded"]) model.on(`change:${name}`, draw);
  draw();
}

export default { render };
