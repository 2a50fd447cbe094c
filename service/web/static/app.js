// Sguardo's search page: plain JS against the service's own API, no build step.
"use strict";

const KEY_STORAGE = "sguardo.apiKey";
const TOP_K = 24;
let config = { uploads_require_key: false, reads_require_key: false };

const $ = (id) => document.getElementById(id);

function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, "X-API-Key": key } : extra;
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    // The API answers {"error": {"code", "message"}}.
    const detail = body.error ?? body.detail ?? body;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => d.msg ?? JSON.stringify(d)).join("; ");
    return detail.message ?? JSON.stringify(detail);
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function fileToBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function label(result) {
  const p = result.payload || {};
  return p.title || p.filename || p.source_path || result.id;
}

async function loadThumbnail(img, url) {
  if (!config.reads_require_key) {
    img.src = url;
    return;
  }
  // <img> cannot send headers: fetch the bytes with the key and show them from a blob.
  const response = await fetch(url, { headers: headers() });
  if (response.ok) img.src = URL.createObjectURL(await response.blob());
}

function renderResults(results) {
  const list = $("results");
  list.replaceChildren();
  for (const result of results) {
    const item = document.createElement("li");
    item.className = "result";
    item.dataset.id = result.id;
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    const name = label(result);
    img.alt = (result.payload && (result.payload.title || result.payload.description)) || name;
    img.loading = "lazy";
    const url = result.thumbnail_url || `/images/${encodeURIComponent(result.id)}/thumbnail`;
    loadThumbnail(img, url);
    const caption = document.createElement("figcaption");
    const title = document.createElement("span");
    title.className = "name";
    title.textContent = name;
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = `punteggio ${Number(result.score).toFixed(3)}`;
    caption.append(title, score);
    if (typeof addWhereButton === "function") addWhereButton(caption, result, name);
    const p = result.payload || {};
    if (p.credit || p.licence) {
      // CC BY photos need their attribution shown.
      const credit = document.createElement("span");
      credit.className = "credit";
      credit.textContent = [p.credit, p.licence].filter(Boolean).join(" · ");
      credit.title = credit.textContent;
      caption.append(credit);
    }
    figure.append(img, caption);
    item.append(figure);
    list.append(item);
  }
}

async function search(body, description) {
  setStatus(`Ricerca in corso: ${description}…`);
  try {
    const response = await fetch("/search", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ top_k: TOP_K, ...body }),
    });
    if (!response.ok) {
      setStatus(`Ricerca non riuscita: ${await errorMessage(response)}`, true);
      return;
    }
    const data = await response.json();
    const results = data.hits || [];
    renderResults(results);
    setStatus(
      results.length
        ? `${results.length} risultati per ${description}.`
        : `Nessun risultato per ${description}.`
    );
  } catch (err) {
    setStatus(`Il servizio non risponde: ${err}`, true);
  }
}

async function searchByImage(file) {
  if (!file || !file.type.startsWith("image/")) {
    setStatus("Il file trascinato non è un’immagine.", true);
    return;
  }
  $("query").value = "";
  const preview = $("query-preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.alt = `Immagine cercata: ${file.name}`;
  preview.hidden = false;
  if (typeof showWhereImage === "function") showWhereImage(file, file.name);
  await search({ image: await fileToBase64(file) }, `immagini simili a «${file.name}»`);
}

async function upload(event) {
  event.preventDefault();
  const status = $("upload-status");
  const files = $("upload-files").files;
  if (!files.length) return;
  const form = new FormData();
  for (const file of files) form.append("images", file, file.name);
  const title = $("upload-title").value.trim();
  // One object applies to every file; the service records each file's name itself.
  if (title) form.append("metadata", JSON.stringify({ title }));
  status.textContent = "Indicizzazione in corso…";
  try {
    const response = await fetch("/images", { method: "POST", headers: headers(), body: form });
    if (!response.ok) {
      status.textContent = `Indicizzazione non riuscita: ${await errorMessage(response)}`;
      return;
    }
    const data = await response.json();
    const already = data.existing ? ` (${data.existing} erano già presenti)` : "";
    status.textContent = `Indicizzate ${data.created} immagini${already}.`;
    $("upload-form").reset();
  } catch (err) {
    status.textContent = `Il servizio non risponde: ${err}`;
  }
}

function refreshUploadAccess() {
  const locked = config.uploads_require_key && !apiKey();
  $("upload-locked").hidden = !locked;
  for (const el of $("upload-form").elements) el.disabled = locked;
}

async function loadConfig() {
  try {
    const response = await fetch("/config");
    if (response.ok) config = { ...config, ...(await response.json()) };
  } catch {
    // The page still works with the defaults; the API answers 401 if a key is needed.
  }
  if (config.model_id) $("model-info").textContent = `Modello: ${config.model_id}`;
  refreshUploadAccess();
}

function setUpDropzone() {
  const zone = $("dropzone");
  const input = $("drop-input");
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      input.click();
    }
  });
  input.addEventListener("change", () => searchByImage(input.files[0]));
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("active");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("active"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("active");
    const file = e.dataTransfer && e.dataTransfer.files[0];
    searchByImage(file);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("api-key").value = apiKey();
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = $("api-key").value.trim();
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
    refreshUploadAccess();
  });
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("query").value.trim();
    $("query-preview").hidden = true;
    if (text) search({ text }, `«${text}»`);
  });
  for (const example of document.querySelectorAll(".example")) {
    example.addEventListener("click", () => {
      $("query").value = example.textContent;
      $("search-form").requestSubmit();
    });
  }
  $("upload-form").addEventListener("submit", upload);
  setUpDropzone();
  loadConfig();
});
