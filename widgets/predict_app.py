"""PredictApp: the prediction playground's page, in parts a dashboard shows in cells of their own."""

from __future__ import annotations

import html
from dataclasses import replace

import ipywidgets as W

from mlaas_kernel import playground

from ._plot import PlotOutput
from .digit_canvas import DigitCanvas

__all__ = ["PredictApp"]

# What a prediction can fail with and the page shows as a message (never a traceback).
_SHOWN = (LookupError, ValueError, OSError, RuntimeError)


class PredictApp:
    """Pick a registered model and alias; draw a digit or upload an image (an image model) or fill in
    a row (a tabular model); see the answer, where it came from and the probabilities.

    Parts, each for a cell of its own (Voilà waits for each cell's widgets on their own):
    :attr:`controls` (picker, canvas, upload), :attr:`result` (class, set, model, via what),
    :attr:`chart` (probabilities) and :attr:`form` (a tabular model's features). Triggers:
    :meth:`choose`, ``canvas.draw(array)``, :meth:`upload_bytes`, :meth:`predict_form`.
    """

    def __init__(self, model: str = "", alias: str = "champion", endpoint: str = "", *, workspace_dir=None):
        self.workspace_dir, self.endpoint = workspace_dir, endpoint or None
        self.session: playground.Playground | None = None
        self.last: playground.Prediction | None = None  # the latest answer shown
        self.meta: dict = {}
        self._quiet = False
        self._asked = ""  # why the model asked for is not shown (an embedding), or ""
        self._seen: tuple = ()  # (version, aliases) of the latest answer: another one means the aliases moved
        self.summaries: dict = {}
        self.hidden: dict = {}  # registered models the page cannot show -> why
        self.header = W.HTML(layout={"margin": "0 0 6px 0"})
        self.picker = W.Dropdown(description="model")
        self.alias = W.Dropdown(description="version")
        self.canvas = DigitCanvas()
        self.upload = W.FileUpload(accept="image/png,image/jpeg", multiple=False, description="Upload an image",
                                  layout={"width": "max-content"})
        self.controls = W.VBox([self.header, W.HBox([self.picker, self.alias]), self.canvas, self.upload])
        self.result = W.HTML()
        self.chart = PlotOutput(playground.probability_figure(None), empty_text="draw a digit")
        # Few widgets, all made here in one cell before any is shown (Voila showed widgets it learnt
        # of late as "model not found"); a tabular model's form fields are made when one is picked.
        self._form = _RowForm(self.predict_form)
        self.form = self._form.box
        self.canvas.observe(self._on_drawing, names="pixels")
        self.upload.observe(self._on_upload, names="value")
        self.picker.observe(lambda _c: self._quiet or (self._alias_options(), self._load()), names="value")
        self.alias.observe(lambda _c: self._quiet or self._load(), names="value")
        self.apply(model, alias, endpoint)

    def apply(self, model: str = "", alias: str = "champion", endpoint: str = "") -> None:
        """Re-read the registered models, then pick ``model`` (default: the image classifier), its
        ``alias`` (or version number) and the ``endpoint`` URL to call (empty: look for a running one).
        A dashboard calls it with its page's URL parameters once the page is opened."""
        self.endpoint = endpoint or None
        self.summaries, self.hidden = _listing(self.workspace_dir)
        empty = not self.summaries
        self.picker.disabled = self.alias.disabled = empty
        if empty:
            self.session = None
            self.header.value = _empty(self.hidden)
            self.canvas.layout.display = self.upload.layout.display = self.form.layout.display = "none"
            self.chart.layout.display = "none"
            return
        self._asked = self.hidden.get(model, "")  # a model asked for by name that this page cannot show: said plainly
        name = model if model in self.summaries else playground.default_ref(list(self.summaries)).split("@")[0]
        self._quiet = True
        try:
            self.picker.options = sorted(self.summaries)
            self.picker.value = name if name in self.summaries else sorted(self.summaries)[0]
        finally:
            self._quiet = False
        self._alias_options(alias)
        self._load()

    # choosing the model ------------------------------------------------------------------------
    def _alias_options(self, wanted: str = "champion") -> None:
        options = _version_options(self.summaries[self.picker.value])
        values = [v for _, v in options]
        self._quiet = True  # one load per choice, not one per dropdown change
        try:
            self.alias.options = options
            self.alias.value = next((v for v in (f"@{wanted}", f"/{wanted}") if v in values), values[0] if values else None)
        finally:
            self._quiet = False

    @property
    def ref(self) -> str:
        return f"{self.picker.value}{self.alias.value or '@champion'}"

    def choose(self, name: str, version: str = "@champion") -> None:
        """Pick model ``name`` and ``@ALIAS`` or ``/VERSION`` (what the two dropdowns do)."""
        self.picker.value = name
        self.alias.value = version

    def _load(self) -> None:
        self.session = playground.Playground(self.ref, endpoint=self.endpoint, workspace_dir=self.workspace_dir)
        try:
            self.meta = self.session.metadata()
        except _SHOWN as exc:
            self.meta = {}
            self.header.value = _error(f"{self.ref}: {exc}")
            return
        if self.meta.get("task") == "embedding":  # an endpoint URL of one, asked for directly
            where = f" (at {self.endpoint})" if self.endpoint else ""
            self.session = None
            self.header.value = _error(f"{self.meta.get('name') or self.picker.value}{where} is {playground.EMBEDDING}")
            return
        tabular = self.meta.get("kind") == "tabular"
        self._seen = ()
        self.header.value = _header(self.ref, self.meta, tabular, self._asked)
        # a tabular model has no image to draw and no chart: its answer is the form's
        self.canvas.layout.display = self.upload.layout.display = self.chart.layout.display = "none" if tabular else None
        self.result.layout.display = "none" if tabular else None
        self.form.layout.display = None  # a tabular model's form, or which tabular models there are
        self.result.value = ""
        self.chart.show(playground.probability_figure(None))
        if tabular:
            self._form.build(self.meta)
            return
        self._form.hint(_tabular_hint(self.summaries))
        if self.canvas.pixels:
            self._on_drawing()

    # predictions -------------------------------------------------------------------------------
    def _show(self, run, target: W.HTML | None = None):
        """Run a prediction; its answer (or what went wrong) in ``target`` (default: the result)."""
        target = target or self.result
        try:
            pred = run()
        except _SHOWN as exc:
            target.value = _error(str(exc))
            return None
        pred = _refreshed(self, pred)
        target.value = _answer(pred)
        if target is self.result and pred.value is None:
            self.chart.show(playground.probability_figure(pred))
        self.last = pred
        return pred

    def _on_drawing(self, _change=None) -> None:
        if self.session is None:
            return
        image = self.canvas.image
        if image is None:
            self.last = None
            self.result.value = ""
            self.chart.show(playground.probability_figure(None))
            return
        self._show(lambda: self.session.predict_array(image))

    def upload_bytes(self, content: bytes, filename: str = "upload.png"):
        """Predict an uploaded image's bytes (what choosing a file does)."""
        if self.session is not None:
            return self._show(lambda: self.session.predict_upload(bytes(content), filename))

    def _on_upload(self, change) -> None:
        files = change["new"]
        if files:
            first = files[0]
            self.upload_bytes(first["content"], first.get("name") or "upload.png")

    # a tabular model's form --------------------------------------------------------------------
    @property
    def form_fields(self) -> list:
        """The form's input widgets, one per raw feature (empty for an image model)."""
        return self._form.fields

    @property
    def form_result(self) -> W.HTML | None:
        """The form's answer (None until a tabular model is picked)."""
        return self._form.result

    def predict_form(self):
        """Predict the row the form holds (the Predict button)."""
        if self.session is not None:
            return self._show(lambda: self.session.predict_row(self._form.values()), self._form.result)
        return None


class _RowForm:
    """A tabular model's raw features as inputs (defaults from serving.json), a Predict button, the answer."""

    def __init__(self, on_predict):
        self.box = W.VBox()
        self.fields: list = []
        self.result: W.HTML | None = None
        self.button: W.Button | None = None
        self._hint = W.HTML()  # made with the page's other widgets (see PredictApp.__init__)
        self._on_predict = on_predict

    def build(self, meta: dict) -> None:
        fields = []
        for spec in playground.form_fields(meta):
            if spec.get("choices"):
                field = W.Dropdown(options=spec["choices"], value=spec["default"], description=spec["name"])
            else:
                field = W.FloatText(value=spec["default"], description=spec["name"])
            field.style.description_width = "140px"
            fields.append(field)
        if self.result is None:
            self.result = W.HTML()
            self.button = W.Button(description="Predict", button_style="primary")
            self.button.on_click(lambda _b: self._on_predict())
        self.fields = fields
        self.result.value = ""
        self.box.children = [*fields, self.button, self.result]

    def hint(self, text: str) -> None:
        """The box without a form (an image model is picked): ``text`` says which tabular models there are."""
        if self._hint is None:
            self._hint = W.HTML()
        self._hint.value = text
        self.fields = []
        self.box.children = [self._hint]

    def values(self) -> dict:
        return {f.description: f.value for f in self.fields}


def _refreshed(app: PredictApp, pred):
    """``pred`` as the page shows it. An answer from another version than the page shows (a promote
    or rollback since): the model's aliases re-read, so the header, the version dropdown and the
    answer say what they are now."""
    if pred.version is None or (pred.version, pred.aliases) == app._seen:
        return pred
    if (fresh := _listing(app.workspace_dir)[0].get(app.picker.value)) is not None:
        app.summaries[fresh.name] = fresh
        app._alias_options(app.alias.value.lstrip("@/"))
        pred = replace(pred, aliases=tuple(sorted(a for a, v in fresh.aliases.items() if v == pred.version)))
    if app.meta.get("version") != pred.version:
        app.meta = {**app.meta, "version": pred.version}
        app.header.value = _header(app.ref, app.meta, app.meta.get("kind") == "tabular", app._asked)
    app._seen = (pred.version, pred.aliases)
    return pred


def _listing(workspace_dir) -> tuple[dict, dict]:
    """(name -> ModelSummary of the models the page can show, name -> why each other one is not shown)."""
    listed = playground.summaries(workspace_dir=workspace_dir)
    hidden = {m.name: why for m in listed if (why := playground.unshowable(m))}  # embeddings: nothing to draw
    return {m.name: m for m in listed if m.name not in hidden}, hidden


def _tabular_hint(summaries: dict) -> str:
    """Which registered tabular models the form can show (their real names, from the registry), or how to make one."""
    names = sorted(n for n, m in summaries.items() if playground.model_kind(m) == "estimator")
    if names:
        listed = ", ".join(f"<code>{html.escape(n)}</code>" for n in names)
        return f"<span class='mlaas-predict-tabular'>Tabular models registered here: {listed}. Pick one above for its form.</span>"
    return ("<span class='mlaas-predict-tabular'>No tabular model registered yet: run notebook 04b, then register its run "
            "(<code>mlaas models register RUN</code>; a G3Dmark regression becomes <code>gpu-benchmarks-regression</code>).</span>")


def _empty(hidden: dict) -> str:
    text = "; ".join(hidden.values()) + ". " + playground.NO_MODEL if hidden else playground.NO_MODEL
    return f"<div class='mlaas-predict-empty'><b>{html.escape(text)}</b></div>"


def _version_options(summary) -> list[tuple[str, str]]:
    """The version dropdown's (label, suffix of the reference) pairs: aliases first, then every version."""
    options = [(f"{a} (version {v})", f"@{a}") for a, v in sorted(summary.aliases.items())]
    return options + [(f"version {v.version}", f"/{v.version}") for v in summary.versions]


def _answer(pred) -> str:
    return (f"<div class='mlaas-predict-result'><b>{html.escape(pred.answer_text())}</b><br>"
            f"{html.escape(pred.model_text())} · {html.escape(pred.source_text())}</div>")


def _header(ref: str, meta: dict, tabular: bool, note: str = "") -> str:
    hint = "fill in the form below and press Predict" if tabular else "draw a digit below, or upload a PNG/JPEG of one"
    text = f"<b>{html.escape(ref)}</b>: {html.escape(_describe(meta))}; {hint}"
    return text + (f"<br><span class='mlaas-predict-note'>{html.escape(note)}</span>" if note else "")


def _describe(meta: dict) -> str:
    kind, task = meta.get("kind", "?"), meta.get("task", "?")
    target = f", predicts {meta['target']}" if meta.get("target") else ""
    return f"{kind} {task} on {meta.get('dataset') or 'its dataset'}{target}, version {meta.get('version', '?')}"


def _error(text: str) -> str:
    return f"<div class='mlaas-predict-error' style='color:#b00020'>{html.escape(text)}</div>"
