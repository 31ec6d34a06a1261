"""The page ``kerakit serve`` shows at ``/``: each model's inputs and classes, and a way to try it.

Plain HTML and a little JavaScript that speaks the same REST API as any other
client. Image models get an upload box: the image is scaled to the model's
input size in the browser, sent to ``:predict``, and the top classes are shown.
Table models get a form with one field per column; an empty number is sent as
``null`` (the model fills it in).
"""

from __future__ import annotations

import json
from typing import Any

TOP_CLASSES = 5

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>kerakit serve</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; }
section { border: 1px solid #ccc; border-radius: 6px; padding: 0 1rem 1rem; margin: 1rem 0; }
code { background: #f4f4f4; padding: 0 .2rem; }
.error { color: #b00020; }
ol.top li span { display: inline-block; min-width: 8rem; }
</style>
</head>
<body>
<h1>kerakit serve</h1>
<p>REST API: TF Serving's, under <code>/v1/models/NAME</code>
(<code>:predict</code>, <code>:classify</code>, <code>/metadata</code>).</p>
<div id="models"></div>
<script type="application/json" id="kerakit-models">__MODELS__</script>
<script>
const TOP = __TOP__;
const models = JSON.parse(document.getElementById("kerakit-models").textContent);

function add(parent, tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  parent.appendChild(node);
  return node;
}

async function pixels(file, height, width, channels) {
  const bitmap = await createImageBitmap(file, {colorSpaceConversion: "none",
                                                premultiplyAlpha: "none"});
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  const context = canvas.getContext("2d", {willReadFrequently: true});
  context.imageSmoothingQuality = "high";
  context.drawImage(bitmap, 0, 0, width, height);
  const data = context.getImageData(0, 0, width, height).data;
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = [];
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x), r = data[i], g = data[i + 1], b = data[i + 2];
      // Grey exactly as Pillow converts it, so the page and `kerakit predict` agree.
      const grey = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
      row.push(channels === 1 ? [grey] : [r, g, b]);
    }
    rows.push(row);
  }
  return rows;
}

function showScores(model, scores, out) {
  if (!model.class_names && scores.length === 1) {
    add(out, "p", `Predicted: ${scores[0]}`, {"class": "predicted", "data-value": scores[0]});
    return;
  }
  if (!model.class_names) {
    add(out, "p", `Predicted: ${scores.join(", ")}`, {"class": "predicted"});
    return;
  }
  const names = model.class_names;
  const order = scores.map((s, i) => [s, i]).sort((a, b) => b[0] - a[0]).slice(0, TOP);
  add(out, "p", `Predicted: ${names[order[0][1]]}`,
      {"class": "predicted", "data-class": names[order[0][1]]});
  const list = add(out, "ol", undefined, {"class": "top"});
  for (const [score, i] of order) {
    const item = add(list, "li", undefined, {"data-class": names[i]});
    add(item, "span", names[i]);
    add(item, "span", `${(100 * score).toFixed(1)} %`);
  }
}

async function tryRow(model, form, out) {
  out.replaceChildren();
  const row = {};
  for (const spec of model.inputs) {
    const text = form.elements[spec.name].value;
    row[spec.name] = spec.dtype === "string" ? text : (text.trim() === "" ? null : Number(text));
  }
  try {
    const response = await fetch(`/v1/models/${model.name}:predict`, {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({instances: [row]})});
    const body = await response.json();
    if (!response.ok) throw new Error(body.error);
    showScores(model, [].concat(body.predictions[0]), out);
  } catch (error) {
    add(out, "p", `Error: ${error.message}`, {"class": "error"});
  }
}

function tableForm(model, section) {
  const form = add(section, "form", undefined, {"class": "row"});
  for (const spec of model.inputs) {
    const label = add(form, "label", `${spec.name} `);
    add(label, "input", undefined, {name: spec.name,
                                    type: spec.dtype === "string" ? "text" : "number",
                                    step: "any"});
    add(form, "br");
  }
  add(form, "button", "Predict", {type: "submit"});
  const out = add(section, "div", undefined, {"class": "result"});
  form.addEventListener("submit", (event) => { event.preventDefault(); tryRow(model, form, out); });
}

async function tryImage(model, file, out) {
  out.replaceChildren();
  const [height, width, channels] = model.input.shape.slice(1);
  try {
    const instance = await pixels(file, height, width, channels);
    const response = await fetch(`/v1/models/${model.name}:predict`, {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({instances: [instance]})});
    const body = await response.json();
    if (!response.ok) throw new Error(body.error);
    const scores = body.predictions[0];
    showScores({...model, class_names: model.class_names || scores.map((_, i) => String(i))},
               scores, out);
  } catch (error) {
    add(out, "p", `Error: ${error.message}`, {"class": "error"});
  }
}

for (const model of models) {
  const section = add(document.getElementById("models"), "section", undefined,
                      {id: `model-${model.name}`});
  add(section, "h2", `${model.name} (version ${model.version})`);
  if (model.card) add(add(section, "p"), "a", "Model card", {href: model.card, class: "card"});
  if (model.kind === "table") {
    add(section, "p", `Columns: ${model.inputs.map((s) => `${s.name} (${s.dtype})`).join(", ")}`);
  } else {
    const shape = model.input.shape.map((d) => d === null ? "batch" : d).join(", ");
    add(section, "p", `Input ${model.input.name}: ${model.input.dtype}, shape (${shape})`);
  }
  if (model.class_names) add(section, "p", `Classes: ${model.class_names.join(", ")}`);
  add(section, "p", `Signatures: ${model.signatures.join(", ")}`);
  if (model.kind === "image") {
    const label = add(section, "label", "Try an image: ");
    const input = add(label, "input", undefined, {type: "file", accept: "image/*",
                                                  "class": "upload"});
    const out = add(section, "div", undefined, {"class": "result"});
    input.addEventListener("change", () => input.files[0] && tryImage(model, input.files[0], out));
  } else if (model.kind === "table") {
    tableForm(model, section);
  } else {
    add(section, "p", "Send inputs through the REST API (see the curl examples in the docs).");
  }
}
</script>
</body>
</html>
"""


def render_page(models: list[dict[str, Any]]) -> str:
    """The page for these models (each as :meth:`ServedModel.describe` gives it).

    Example:
        >>> page = render_page([])
        >>> page.startswith("<!doctype html>")
        True

    Args:
        models: name, version, input spec, class names, input kind and signatures of each.

    Returns:
        The HTML document.
    """
    # "<" escaped, so no value can close the script element it is embedded in.
    data = json.dumps(models).replace("<", "\\u003c")
    return PAGE.replace("__MODELS__", data).replace("__TOP__", str(TOP_CLASSES))


def card_route(models: dict[str, Any]) -> Any:
    """``GET /models/NAME/MODEL_CARD.md`` and its ``curves.png``: each export's model card.

    The card is sent as plain UTF-8 text, which every browser shows; only the
    card and its plot are served, never another file of the export.

    Example:
        >>> Route("/models/{name}/{file}", card_route(models))  # doctest: +SKIP
    """
    from starlette.responses import FileResponse, JSONResponse

    async def card(request: Any) -> Any:
        model = models.get(request.path_params["name"])
        path = model.card_file(request.path_params["file"]) if model is not None else None
        if path is None:
            return JSONResponse({"error": "Not found"}, status_code=404)
        kind = "image/png" if path.suffix == ".png" else "text/plain; charset=utf-8"
        return FileResponse(path, media_type=kind)

    return card
