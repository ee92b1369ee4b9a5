// peepsweb: the little JavaScript the pages need beyond htmx. Pages work
// without it; this only adds keyboard shortcuts and copy-to-clipboard.
(function () {
  "use strict";

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  // "/" focuses the search box (like GitHub); Escape leaves it.
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "/" && !ev.ctrlKey && !ev.metaKey && !ev.altKey && !typing(ev.target)) {
      var box = document.querySelector("[data-hotkey='/']");
      if (box) {
        ev.preventDefault();
        box.focus();
        box.select();
      }
    } else if (ev.key === "Escape" && typing(ev.target) && ev.target.matches("[data-hotkey]")) {
      ev.target.blur();
    }
  });

  // GET filter forms send every field; drop the empty ones so the pushed
  // URL is the short, shareable one a person would write (?state_class=waiting).
  document.addEventListener("htmx:configRequest", function (ev) {
    if (ev.detail.verb !== "get" || !ev.detail.formData) return;
    var data = ev.detail.formData;
    Array.from(new Set(data.keys())).forEach(function (key) {
      if (data.getAll(key).every(function (v) { return v === ""; })) data.delete(key);
    });
  });

  // <button data-copy-target="#some-id"> copies that element's text.
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy-target"));
    if (!source) return;
    var text = source.textContent;
    var done = function (ok) {
      var status = button.nextElementSibling;
      if (status && status.classList.contains("copy-status")) {
        status.textContent = ok ? "copied" : "copy failed: select the text and copy it";
        setTimeout(function () { status.textContent = ""; }, 2500);
      }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
    } else {
      // http:// on a LAN host is not a secure context: fall back to a selection.
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      done(ok);
    }
  });
})();
