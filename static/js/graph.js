// The graph page: pan, zoom, hover highlighting and a tooltip over the
// server-drawn SVG (templates/pages/_graph_svg.html). Without this script
// the SVG still scrolls, every node is a link and <title> gives tooltips.
// Snapshot text is only ever read from attributes and written with
// textContent, never parsed as HTML.
(function () {
  "use strict";

  var ZOOM_STEP = 1.25;
  var MIN_SCALE = 0.05;
  var MAX_SCALE = 4;

  function setup(canvas) {
    if (canvas.dataset.ready) return;
    canvas.dataset.ready = "1";
    var svg = canvas.querySelector("svg.graph-svg");
    var tip = canvas.querySelector(".graph-tip");
    if (!svg) return;
    var vb = svg.viewBox.baseVal;
    var W = vb.width, H = vb.height;
    var view = { x: 0, y: 0, w: W, h: H };

    canvas.classList.add("js");
    canvas.style.height = Math.max(200, Math.min(H + 40, window.innerHeight * 0.78)) + "px";
    svg.setAttribute("width", "100%");
    svg.setAttribute("height", "100%");
    document.querySelectorAll(".graph-js-only").forEach(function (el) { el.hidden = false; });

    function size() { return { w: canvas.clientWidth || 1, h: canvas.clientHeight || 1 }; }
    function apply() { svg.setAttribute("viewBox", view.x + " " + view.y + " " + view.w + " " + view.h); }
    function scale() { return size().w / view.w; }
    function setScale(s, px, py) {
      var c = size();
      s = Math.max(MIN_SCALE, Math.min(MAX_SCALE, s));
      if (px === undefined) { px = c.w / 2; py = c.h / 2; }
      var gx = view.x + px * view.w / c.w, gy = view.y + py * view.h / c.h;
      view.w = c.w / s; view.h = c.h / s;
      view.x = gx - px / s; view.y = gy - py / s;
      apply();
    }
    function fit() {
      var c = size();
      var s = Math.min(c.w / W, c.h / H, 1);
      view.w = c.w / s; view.h = c.h / s;
      view.x = (W - view.w) / 2; view.y = (H - view.h) / 2;
      apply();
    }
    function one() {
      var c = size();
      view.w = c.w; view.h = c.h;
      var focus = svg.querySelector(".gnode.focus");
      if (focus) {
        var m = focus.transform.baseVal.consolidate();
        var box = focus.getBBox();
        view.x = m.matrix.e + box.width / 2 - c.w / 2;
        view.y = m.matrix.f + box.height / 2 - c.h / 2;
      } else { view.x = 0; view.y = 0; }
      apply();
    }
    function pan(dx, dy) { var s = scale(); view.x -= dx / s; view.y -= dy / s; apply(); }
    // Readable first: a big graph opens at actual size around the focus
    // (0 or "fit" shows all of it) instead of as a thumbnail.
    function initial() {
      var c = size();
      if (Math.min(c.w / W, c.h / H) >= 0.5) fit(); else one();
    }
    initial();
    window.addEventListener("resize", function () { if (canvas.isConnected) initial(); });

    canvas.addEventListener("click", function (ev) {
      var b = ev.target.closest("[data-zoom]");
      if (!b) return;
      var z = b.getAttribute("data-zoom");
      if (z === "in") setScale(scale() * ZOOM_STEP);
      else if (z === "out") setScale(scale() / ZOOM_STEP);
      else if (z === "fit") fit();
      else one();
    });
    canvas.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var r = canvas.getBoundingClientRect();
      setScale(scale() * Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
    canvas.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      var k = ev.key, done = true;
      if (k === "+" || k === "=") setScale(scale() * ZOOM_STEP);
      else if (k === "-" || k === "_") setScale(scale() / ZOOM_STEP);
      else if (k === "0") fit();
      else if (k === "1") one();
      else if (k === "ArrowLeft") pan(60, 0);
      else if (k === "ArrowRight") pan(-60, 0);
      else if (k === "ArrowUp") pan(0, 60);
      else if (k === "ArrowDown") pan(0, -60);
      else done = false;
      if (done) ev.preventDefault();
    });

    // Drag to pan; a drag that starts on a node must not also open it.
    var drag = null, dragged = false;
    canvas.addEventListener("pointerdown", function (ev) {
      if (ev.button !== 0 || ev.target.closest(".graph-zoom")) return;
      drag = { x: ev.clientX, y: ev.clientY, id: ev.pointerId };
      dragged = false;
    });
    canvas.addEventListener("pointermove", function (ev) {
      if (!drag || ev.pointerId !== drag.id) return;
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (!dragged && Math.abs(dx) + Math.abs(dy) < 5) return;
      if (!dragged) { dragged = true; canvas.classList.add("dragging"); canvas.setPointerCapture(ev.pointerId); }
      drag.x = ev.clientX; drag.y = ev.clientY;
      pan(dx, dy);
    });
    function endDrag() { drag = null; canvas.classList.remove("dragging"); }
    canvas.addEventListener("pointerup", endDrag);
    canvas.addEventListener("pointercancel", endDrag);
    canvas.addEventListener("click", function (ev) {
      if (dragged) { ev.preventDefault(); ev.stopPropagation(); dragged = false; }
    }, true);

    // Neighbours, for highlighting.
    var nodes = svg.querySelectorAll(".gnode");
    var edges = svg.querySelectorAll(".gedge");
    var incident = {};
    edges.forEach(function (e) {
      [e.getAttribute("data-s"), e.getAttribute("data-d")].forEach(function (i) {
        (incident[i] = incident[i] || []).push(e);
      });
    });
    nodes.forEach(function (n) {
      // The tooltip below replaces the native one; keep the accessible name.
      var title = n.querySelector("title");
      if (title) { n.setAttribute("aria-label", title.textContent); title.remove(); }
    });

    function line(cls, text) {
      var s = document.createElement("span");
      s.className = cls;
      s.textContent = text;
      tip.appendChild(s);
    }
    function show(n) {
      var i = n.getAttribute("data-i");
      svg.classList.add("hl");
      n.classList.add("on");
      (incident[i] || []).forEach(function (e) {
        e.classList.add("on");
        var other = e.getAttribute("data-s") === i ? e.getAttribute("data-d") : e.getAttribute("data-s");
        var m = svg.querySelector("#gn-" + other);
        if (m) m.classList.add("on");
      });
      tip.replaceChildren();
      line("tip-label", n.getAttribute("data-label"));
      line("tip-line", n.getAttribute("data-kind"));
      line("tip-line", n.getAttribute("data-process"));
      line("tip-line", n.getAttribute("data-node-id"));
      if (n.classList.contains("in-cycle")) line("tip-line", "in a needs cycle");
      if (n.hasAttribute("data-trace")) line("tip-line", "pending trace " + n.getAttribute("data-trace"));
      tip.hidden = false;
      var r = n.getBoundingClientRect(), c = canvas.getBoundingClientRect();
      var left = Math.min(r.left - c.left, c.width - tip.offsetWidth - 4);
      var top = r.bottom - c.top + 6;
      if (top + tip.offsetHeight > c.height) top = r.top - c.top - tip.offsetHeight - 6;
      tip.style.left = Math.max(2, left) + "px";
      tip.style.top = Math.max(2, top) + "px";
    }
    function hide() {
      svg.classList.remove("hl");
      svg.querySelectorAll(".on").forEach(function (el) { el.classList.remove("on"); });
      tip.hidden = true;
    }
    nodes.forEach(function (n) {
      n.addEventListener("mouseenter", function () { if (!drag) show(n); });
      n.addEventListener("mouseleave", hide);
      n.addEventListener("focus", function () { show(n); });
      n.addEventListener("blur", hide);
    });
  }

  function setupAll(root) {
    (root || document).querySelectorAll(".graph-canvas").forEach(setup);
  }
  // htmx swaps in a new graph when a filter changes; htmx:load covers the
  // first page too, DOMContentLoaded covers a page without htmx.
  document.addEventListener("htmx:load", function (ev) { setupAll(ev.detail.elt.parentNode || document); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setupAll(document); });
  } else {
    setupAll(document);
  }
})();
