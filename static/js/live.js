// peepsweb live updates: one websocket per page to /ws/updates/.
//
// The header says what the page listens to (data-topics; the table is
// snapshots/live/topics.py). The server renders each change once, with the
// pages' own partials, and sends {"event": "fragments", "topic": ..., "html":
// ...}: every top-level element of `html` replaces the element with the same
// id on this page. That html is the page's fragment for its URL without a
// query string, so a page with one (filtered, sorted, a later page) re-reads
// its own fragment instead. {"event": "changed", "topic": ...} goes to pages
// that are not pushed their fragment: they show "new data: refresh".
// {"event": "snapshot", "snapshot_id": N} announces a complete snapshot: a
// page with "follow latest" on goes there; a page pinned to a numbered
// snapshot stays put. The indicator (#live-status) says when the socket is
// down; it reconnects with exponential backoff and jitter, and then catches
// up (re-reads the fragment, or shows "new data") in case it missed updates.
(function () {
  "use strict";

  var status = document.getElementById("live-status");
  if (!status || !("WebSocket" in window)) return;

  var BASE_DELAY_MS = 500;
  var MAX_DELAY_MS = 30000;
  var FOLLOW_KEY = "peepsweb.follow";
  var topics = status.getAttribute("data-topics") || "";
  var scopeKey = status.getAttribute("data-scope") || "";
  var urlScope = status.getAttribute("data-url-scope") || "";
  var pushed = status.getAttribute("data-on-update") !== "notice";
  var stale = document.getElementById("live-stale");
  var follow = document.getElementById("live-follow");
  var socket = null;
  var attempt = 0;
  var everOpen = false;
  var deferred = {}; // id -> element waiting for the user to stop typing in it

  // -- connection -------------------------------------------------------------

  function socketUrl() {
    var path = status.getAttribute("data-ws-path") + (topics ? "?topics=" + encodeURIComponent(topics) : "");
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  function show(state, text) {
    status.setAttribute("data-state", state);
    status.title = "Live updates: " + text;
    status.querySelector(".live-status-text").textContent = text;
  }

  function connect() {
    show(attempt ? "reconnecting" : "connecting", attempt ? "reconnecting…" : "connecting…");
    try {
      socket = new WebSocket(socketUrl());
    } catch (e) {
      retry();
      return;
    }
    socket.onopen = function () {
      var missed = everOpen; // updates sent while we were away are lost: re-read
      everOpen = true;
      attempt = 0;
      show("live", "live");
      if (missed && topics) catchUp();
    };
    socket.onmessage = function (ev) { handle(ev.data); };
    socket.onclose = function () {
      socket = null;
      retry();
    };
  }

  function retry() {
    attempt += 1;
    // Full jitter: many tabs reconnecting after a server restart spread out.
    var cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * Math.pow(2, attempt - 1));
    var delay = Math.round(cap / 2 + Math.random() * cap / 2);
    show("down", "offline, retrying in " + Math.ceil(delay / 1000) + " s");
    setTimeout(connect, delay);
  }

  // -- messages ---------------------------------------------------------------

  function handle(text) {
    var msg;
    try { msg = JSON.parse(text); } catch (e) { return; }
    // For page scripts that count what arrives (replay.js: "N new snapshots").
    document.dispatchEvent(new CustomEvent("peepsweb:live-message", { detail: msg }));
    if (msg.event === "fragments") {
      if (location.search) refresh();
      else swapFragments(msg.html);
    } else if (msg.event === "changed") {
      showStale();
    } else if (msg.event === "hello") {
      // Only noted: opening an older snapshot on purpose must not bounce
      // the user away, even in a tab that follows.
      noteLatest(msg.snapshot_id);
    } else if (msg.event === "snapshot") {
      noteLatest(msg.snapshot_id);
      newest(msg.snapshot_id);
    }
  }

  function noteLatest(snapshotId) {
    latestKnown = snapshotId;
    if (snapshotId !== null && snapshotId !== undefined) status.setAttribute("data-latest", snapshotId);
  }

  function typingIn(el) {
    var active = document.activeElement;
    return active && el.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
  }

  function catchUp() {
    if (pushed) refresh();
    else showStale();
  }

  function showStale() {
    if (stale) stale.hidden = false;
  }

  function swapFragments(html) {
    if (!html) return;
    var template = document.createElement("template");
    template.innerHTML = html;
    // A copy: `children` is live, and each swap moves an element out of it.
    Array.from(template.content.children).forEach(function (el) {
      if (!el.id) return;
      var old = document.getElementById(el.id);
      if (!old) {
        // Every id a topic swaps is on its pages (tests/live/test_topics.py).
        console.warn("peepsweb live: no #" + el.id + " on this page");
        return;
      }
      if (typingIn(old)) {
        deferred[el.id] = el; // do not wipe what the user is typing; swap on blur
        return;
      }
      replace(old, el);
    });
  }

  function replace(old, el) {
    delete deferred[el.id];
    old.replaceWith(el);
    window.htmx.process(el); // htmx.min.js is loaded (deferred, first) on every page
    el.dispatchEvent(new CustomEvent("peepsweb:live-swap", { bubbles: true }));
  }

  document.addEventListener("focusout", function () {
    setTimeout(function () {
      Object.keys(deferred).forEach(function (id) {
        var old = document.getElementById(id);
        if (old && !typingIn(old)) replace(old, deferred[id]);
      });
    }, 0);
  });

  var refreshing = false;
  var refreshAgain = false;

  // Re-read this page's fragment (what its view answers to htmx) and swap it.
  function refresh() {
    if (refreshing) { refreshAgain = true; return; }
    refreshing = true;
    fetch(location.href, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (r) { return r.ok || r.status === 400 ? r.text() : ""; })
      .then(swapFragments)
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (refreshAgain) { refreshAgain = false; refresh(); }
      });
  }

  // -- follow latest ----------------------------------------------------------

  function following() {
    return follow && follow.checked;
  }

  var latestKnown = null;

  if (follow) {
    var saved = sessionStorage.getItem(FOLLOW_KEY);
    follow.checked = saved === null ? follow.getAttribute("data-default") === "on" : saved === "1";
    follow.addEventListener("change", function () {
      sessionStorage.setItem(FOLLOW_KEY, follow.checked ? "1" : "0");
      if (follow.checked && latestKnown !== null) newest(latestKnown); // catch up now
    });
  }

  function newest(snapshotId) {
    if (!following() || !/^\d+$/.test(String(snapshotId)) || !/^\d+$/.test(scopeKey)) return;
    if (Number(snapshotId) <= Number(scopeKey)) return;
    if (urlScope === "latest") {
      location.reload();
      return;
    }
    // Same page, newer snapshot: /snapshots/17/tasks/?q=x -> /snapshots/18/tasks/?q=x
    var prefix = "/snapshots/" + urlScope + "/";
    if (location.pathname.indexOf(prefix) !== 0) return;
    location.assign("/snapshots/" + snapshotId + "/" + location.pathname.slice(prefix.length) + location.search);
  }

  // -- Jump to now --------------------------------------------------------------

  // Success swaps the server's summary in. Any error says why in the same
  // place: the server's {"error": ...} (409: no agent is connected, or a
  // pull is in flight; 403: the CSRF check; 401: a token), else the status
  // (a proxy's 502), and a request that got no answer says so.
  var jumpResult = document.getElementById("jump-result");

  function showJump(text) {
    var badge = document.createElement("span");
    badge.className = "badge warn";
    badge.textContent = "Jump to now: " + text; // text, never HTML
    jumpResult.replaceChildren(badge);
  }

  function errorText(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && typeof body.error === "string" && body.error) return body.error;
    } catch (e) { /* not JSON */ }
    return "the server answered " + xhr.status + (xhr.statusText ? " " + xhr.statusText : "");
  }

  document.addEventListener("htmx:beforeSwap", function (ev) {
    if (ev.detail.target !== jumpResult || ev.detail.xhr.status < 400) return;
    ev.detail.shouldSwap = false;
    ev.detail.isError = false;
    showJump(errorText(ev.detail.xhr));
  });

  document.addEventListener("htmx:sendError", function (ev) {
    if (ev.target.closest && ev.target.closest("[data-live-jump]")) showJump("the server did not answer");
  });

  connect();
})();
