// Files for an incident: drop them on the box or choose them; each uploads at once with a
// progress bar, shows its size, and says why if it was refused. The server decides in the
// end (it sniffs the content); these checks only save a pointless upload.

import { upload } from "./api.js";
import { el, formatSize } from "./ui.js";

// The files service's defaults (HAVEN_MAX_UPLOAD_BYTES and its allow-list of kinds).
export const MAX_BYTES = 20 * 1024 * 1024;
const EXTENSIONS = new Set([
  "pdf", "png", "jpg", "jpeg", "jpe", "jfif", "gif", "webp", "heic", "heif",
  "docx", "xlsx", "odt", "txt", "text", "log", "eml", "msg",
]);
export const ACCEPT = [...EXTENSIONS].map((e) => `.${e}`).join(",");

export function refusal(file) {
  const dot = file.name.lastIndexOf(".");
  const extension = dot >= 0 ? file.name.slice(dot + 1).toLowerCase() : "";
  if (file.size === 0) return "This file is empty.";
  if (file.size > MAX_BYTES) return `This file is too large: the most Haven accepts is ${formatSize(MAX_BYTES)}.`;
  if (extension && !EXTENSIONS.has(extension)) {
    return "Haven does not accept this type of file. Use PDF, an image (PNG, JPEG, GIF, WebP, HEIC), Word, Excel, OpenDocument text, plain text or an email.";
  }
  return null;
}

const SERVER_MESSAGES = {
  file_too_large: "This file is too large for Haven.",
  file_type_not_allowed: "Haven does not accept this type of file (judged from its content, not its name).",
  file_damaged: "This file is damaged or incomplete. Open it on your device to check it, save it again and upload the new copy.",
  unsafe_archive: "Haven does not accept this document: it would unpack to far more than its size. Save it again from the program that made it.",
};

export function fileBox({ zone, input, list, schoolId, onChange = () => {} }) {
  const entries = [];
  let next = 1;

  function render(entry) {
    const row = entry.row;
    const progress = el("progress", { max: 100, value: Math.round(entry.progress * 100), "aria-label": `Upload of ${entry.file.name}` });
    const state =
      entry.status === "uploading"
        ? `uploading, ${Math.round(entry.progress * 100)}%`
        : entry.status === "done"
          ? "uploaded"
          : "not uploaded";
    row.replaceChildren(
      ...[
      el("span", { class: "file-name" }, el("strong", { text: entry.file.name }), ` (${formatSize(entry.file.size)}), ${state}`),
      el("button", {
        type: "button",
        class: "secondary",
        text: "Remove",
        "aria-label": `Remove ${entry.file.name}`,
        onclick: () => remove(entry),
      }),
      entry.status === "error" ? null : progress,
      entry.error ? el("p", { class: "error-message", role: "alert", text: entry.error }) : null,
      ].filter(Boolean),
    );
    row.dataset.status = entry.status;
  }

  function remove(entry) {
    entries.splice(entries.indexOf(entry), 1);
    entry.row.remove();
    onChange();
    input.focus();
  }

  async function add(file) {
    const entry = { key: next++, file, status: "uploading", progress: 0, id: null, error: null };
    entry.row = el("li", { "data-file": file.name });
    entries.push(entry);
    list.append(entry.row);
    const refused = refusal(file);
    if (refused) {
      entry.status = "error";
      entry.error = refused;
      render(entry);
      onChange();
      return;
    }
    render(entry);
    onChange();
    try {
      const stored = await upload(file, schoolId, (fraction) => {
        entry.progress = fraction;
        render(entry);
      });
      entry.id = stored.id;
      entry.status = "done";
      entry.progress = 1;
    } catch (error) {
      entry.status = "error";
      entry.error = SERVER_MESSAGES[error.code] || error.message;
    }
    if (entries.includes(entry)) {
      render(entry);
      onChange();
    }
  }

  function addAll(files) {
    for (const file of files) add(file);
  }

  input.addEventListener("change", () => {
    addAll([...input.files]);
    input.value = "";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    if (event.dataTransfer && event.dataTransfer.files.length) addAll([...event.dataTransfer.files]);
  });

  return {
    uploading: () => entries.some((e) => e.status === "uploading"),
    fileIds: () => entries.filter((e) => e.status === "done").map((e) => e.id),
    refused: () => entries.filter((e) => e.status === "error").length,
  };
}
