// w365 portal: enhancements only. Every page works without this file.
"use strict";

// "Copy" buttons: <button data-copy="ID"> copies the text of the element with that id.
function enableCopyButtons() {
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      const text = source.value !== undefined ? source.value : source.textContent;
      const status = document.getElementById(button.dataset.copy + "-status");
      try {
        await navigator.clipboard.writeText(text);
        if (status) status.textContent = "Copied to the clipboard.";
      } catch (e) {
        if (source.select) source.select();
        if (status) status.textContent = "Select the text and copy it (Ctrl+C).";
      }
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  enableCopyButtons();
});
