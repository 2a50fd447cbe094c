// "Dove si trova?": POST /localize on a chosen photo or a result's thumbnail, the heatmap
// drawn on a canvas over the photo and the best box on top. Uses app.js's headers() and
// errorMessage(); loaded after it.
"use strict";

let whereBlob = null;
let whereName = "";

// The colour scale of service/localize/overlay.py: red-orange to yellow, alpha rising with
// the heat so that cold cells leave the photo as it is.
function heatColour(h) {
  const v = Math.min(1, Math.max(0, h));
  return [255, Math.round(40 + 190 * v), 0, Math.round(200 * Math.pow(v, 1.5))];
}

function showWhereImage(blob, name) {
  whereBlob = blob;
  whereName = name || "foto";
  const img = document.getElementById("where-image");
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(blob);
  img.alt = `Foto in cui cercare: ${whereName}`;
  clearOverlay();
  document.getElementById("where-figure").hidden = false;
  setWhereStatus(`Scrivi cosa cercare in «${whereName}».`);
}

function clearOverlay() {
  const canvas = document.getElementById("where-overlay");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  delete canvas.dataset.drawn;
}

function setWhereStatus(text, isError = false) {
  const status = document.getElementById("where-status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function drawLocation(data, result) {
  const img = document.getElementById("where-image");
  const canvas = document.getElementById("where-overlay");
  // The canvas keeps the photo's aspect; CSS stretches it over the displayed photo.
  const scale = Math.min(1, 1024 / Math.max(data.width, data.height));
  canvas.width = Math.max(1, Math.round(data.width * scale));
  canvas.height = Math.max(1, Math.round(data.height * scale));
  const [rows, cols] = data.grid;
  const cells = document.createElement("canvas");
  cells.width = cols;
  cells.height = rows;
  const pixels = cells.getContext("2d").createImageData(cols, rows);
  result.heatmap.forEach((row, r) =>
    row.forEach((h, c) => pixels.data.set(heatColour(h), 4 * (r * cols + c)))
  );
  cells.getContext("2d").putImageData(pixels, 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(cells, 0, 0, canvas.width, canvas.height);
  const box = result.box;
  ctx.strokeStyle = "rgb(0, 255, 255)";
  ctx.lineWidth = Math.max(2, Math.round(canvas.width / 160));
  ctx.strokeRect(
    box.left * scale,
    box.top * scale,
    (box.right - box.left) * scale,
    (box.bottom - box.top) * scale
  );
  canvas.dataset.drawn = "true";
  img.alt = `${whereName}: «${result.phrase}» nel riquadro evidenziato`;
}

async function localize(event) {
  event.preventDefault();
  const phrase = document.getElementById("where-phrase").value.trim();
  if (!phrase) return;
  if (!whereBlob) {
    setWhereStatus("Scegli prima una foto, o premi «Dove?» su un risultato.", true);
    return;
  }
  const form = new FormData();
  form.append("image", whereBlob, whereName);
  form.append("phrases", phrase);
  setWhereStatus(`Cerco «${phrase}» nella foto…`);
  try {
    const response = await fetch("/localize", { method: "POST", headers: headers(), body: form });
    if (!response.ok) {
      setWhereStatus(`Localizzazione non riuscita: ${await errorMessage(response)}`, true);
      return;
    }
    const data = await response.json();
    const result = data.results[0];
    drawLocation(data, result);
    const b = result.box;
    setWhereStatus(
      `«${phrase}»: riquadro da (${b.left}, ${b.top}) a (${b.right}, ${b.bottom}), ` +
        `punteggio ${Number(result.score).toFixed(2)} (${data.crops} ritagli esaminati` +
        `${data.method === "crops+dense" ? ", più la mappa della foto intera" : ""}).`
    );
  } catch (err) {
    setWhereStatus(`Il servizio non risponde: ${err}`, true);
  }
}

// Called by app.js for each search result: a "Dove?" button that localises in its thumbnail
// (the service keeps no originals of indexed photos).
function addWhereButton(caption, result, name) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "where-button";
  button.textContent = "Dove?";
  button.setAttribute("aria-label", `Cerca dove, in «${name}»`);
  button.addEventListener("click", async () => {
    const url = result.thumbnail_url || `/images/${encodeURIComponent(result.id)}/thumbnail`;
    const response = await fetch(url, { headers: headers() });
    if (!response.ok) {
      setWhereStatus(`Miniatura non disponibile: ${await errorMessage(response)}`, true);
      return;
    }
    showWhereImage(await response.blob(), name);
    document.getElementById("where-section").scrollIntoView({ block: "start" });
    document.getElementById("where-phrase").focus();
  });
  caption.append(button);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("where-form").addEventListener("submit", localize);
  const input = document.getElementById("where-file");
  input.addEventListener("change", () => {
    if (input.files[0]) showWhereImage(input.files[0], input.files[0].name);
  });
});
