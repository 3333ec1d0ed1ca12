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

// Live job log: <pre id="log" data-events="/jobs/ID/events" data-last="SEQ" data-terminal="no">.
// Lines arrive as Server-Sent Events (resuming after the last line shown; the browser sends
// Last-Event-ID on reconnects); when the job ends the page reloads to show steps and result.
function followJobLog() {
  const log = document.getElementById("log");
  if (!log || !log.dataset.events || log.dataset.terminal === "yes" || !window.EventSource) return;
  const status = document.getElementById("live-status");
  const refresh = document.getElementById("refresh");
  const url = log.dataset.events + "?after=" + encodeURIComponent(log.dataset.last || "0");
  const source = new EventSource(url);
  if (status) status.textContent = "Live: new lines appear as they happen.";
  if (refresh) refresh.hidden = true;
  source.addEventListener("log", (e) => {
    let line;
    try { line = JSON.parse(e.data); } catch (_) { return; }
    const at = (line.at || "").replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
    log.append(document.createTextNode(at + " " + line.level + " " + line.message + "\n"));
    log.scrollTop = log.scrollHeight;
  });
  source.addEventListener("state", (e) => {
    let s;
    try { s = JSON.parse(e.data); } catch (_) { return; }
    if (status) status.textContent = "Live: the job is " + s.state + (s.parkedReason ? " (" + s.parkedReason + ")" : "") + ".";
  });
  source.addEventListener("end", () => {
    source.close();
    if (status) status.textContent = "The job has finished; loading the result…";
    window.location.reload();
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      if (status) status.textContent = "The live log stopped; press Refresh.";
      if (refresh) refresh.hidden = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  enableCopyButtons();
  followJobLog();
});
