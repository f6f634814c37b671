"""``GateNotifier``: tells you a gate started waiting when its card is not on screen.

It sits, nearly invisible, inside an execution's widget. When a gate of that execution
starts waiting and the card is scrolled out of view (or the tab is hidden), the browser
shows a toast — click it to jump back to the card — and, if you allowed it with the
bell link, a desktop notification.
"""
from __future__ import annotations

import anywidget
import traitlets

__all__ = ["GateNotifier"]

_ESM = r"""
function toastBox() {
  let box = document.querySelector(".gatewidgets-toasts");
  if (!box) {
    box = document.createElement("div");
    box.className = "gatewidgets-toasts";
    Object.assign(box.style, {position: "fixed", right: "16px", bottom: "16px", zIndex: 10000,
                              display: "flex", flexDirection: "column", gap: "8px", maxWidth: "360px"});
    document.body.appendChild(box);
  }
  return box;
}

function render({ model, el }) {
  el.classList.add("gatewidgets-notifier");
  Object.assign(el.style, {fontSize: "11px", color: "var(--jp-ui-font-color2, #777)", minHeight: "1px"});
  const bell = document.createElement("a");
  bell.href = "#";
  bell.className = "gatewidgets-bell";
  // an inline SVG bell: it renders without an emoji font (a missing glyph would show as a box)
  const icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  icon.setAttribute("class", "gatewidgets-bell-icon");
  icon.setAttribute("viewBox", "0 0 16 16");
  icon.setAttribute("width", "12");
  icon.setAttribute("height", "12");
  icon.setAttribute("aria-hidden", "true");
  Object.assign(icon.style, {verticalAlign: "-1px", marginRight: "4px", fill: "currentColor"});
  icon.innerHTML = '<path d="M8 16a2 2 0 0 0 2-2H6a2 2 0 0 0 2 2zm5-5V7a5 5 0 0 0-4-4.9V1a1 1 0 0 0-2 0' +
    'v1.1A5 5 0 0 0 3 7v4l-2 2v1h14v-1l-2-2z"/>';
  const text = document.createElement("span");
  bell.append(icon, text);
  const label = () => {
    const granted = "Notification" in window && Notification.permission === "granted";
    text.textContent = granted ? "desktop notifications on" : "notify me when a gate waits";
  };
  label();
  bell.onclick = (event) => {
    event.preventDefault();
    if ("Notification" in window) Notification.requestPermission().then(label);
  };
  el.appendChild(bell);

  const watched = el.closest(".jp-OutputArea-output, .output_area") || el;
  let onScreen = true;
  const observer = new IntersectionObserver((entries) => {
    onScreen = entries.some((entry) => entry.isIntersecting);
  });
  observer.observe(watched);

  model.on("msg:custom", (msg) => {
    if (!msg || msg.type !== "waiting") return;
    const hidden = document.visibilityState !== "visible";
    if (onScreen && !hidden && !model.get("always")) return;
    const toast = document.createElement("div");
    toast.className = "gatewidgets-toast";
    toast.textContent = msg.text;
    toast.title = "Show the gate";
    Object.assign(toast.style, {background: "var(--jp-layout-color0, #fff)", color: "var(--jp-ui-font-color0, #000)",
      border: "1px solid var(--jp-brand-color1, #1976d2)", borderLeftWidth: "6px", borderRadius: "4px",
      padding: "10px 12px", boxShadow: "0 2px 8px rgba(0,0,0,.25)", cursor: "pointer", fontSize: "13px"});
    toast.onclick = () => {
      watched.scrollIntoView({behavior: "smooth", block: "center"});
      toast.remove();
    };
    toastBox().appendChild(toast);
    setTimeout(() => toast.remove(), model.get("toast_ms"));
    if (hidden && "Notification" in window && Notification.permission === "granted") {
      const note = new Notification("gatewidgets", {body: msg.text});
      note.onclick = () => { window.focus(); watched.scrollIntoView({block: "center"}); };
    }
  });
  return () => observer.disconnect();
}
export default { render };
"""


class GateNotifier(anywidget.AnyWidget):
    """Shows a toast (and a desktop notification, if allowed) when a gate waits off screen."""

    _esm = _ESM
    toast_ms = traitlets.Int(15000, help="How long a toast stays, in milliseconds.").tag(sync=True)
    always = traitlets.Bool(False, help="Toast even when the card is on screen.").tag(sync=True)

    def announce(self, text: str) -> None:
        """Ask every view of this notifier to announce ``text`` (safe from any thread)."""
        self.send({"type": "waiting", "text": text})
