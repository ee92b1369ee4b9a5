// Replay of the live graph (templates/pages/_replay_bar.html; the steps and
// their layout are the server's: snapshots/graph/replay.py). The slider and
// the [ and ] keys ask for a step, ?at=<snapshot id>&until=<snapshot id>,
// with htmx into #graph-body; the URL follows, so a step can be shared and
// reloaded. Escape or "Live" goes back to the live graph. While replaying,
// new snapshots only count up in a badge: nothing moves the view.
(function () {
  "use strict";

  var bar = document.getElementById("replay-bar");
  if (!bar) return;
  var steps = bar.getAttribute("data-steps").split(",");
  var until = Number(bar.getAttribute("data-until"));
  var slider = document.getElementById("replay-slider");
  var badge = document.getElementById("replay-new");
  var form = document.getElementById("graph-form");
  var index = bar.getAttribute("data-index");
  index = index === "" ? null : Number(index);
  var wanted = null; // the URL of the last step asked for: older answers are dropped
  var fresh = 0;
  bar.hidden = false;

  function stepUrl(i) {
    var q = new URLSearchParams(location.search);
    q.set("at", steps[i]);
    q.set("until", until);
    return bar.getAttribute("data-url") + "?" + q.toString();
  }

  // The filter form keeps the step, so changing a filter stays in replay.
  function formField(name, value) {
    var input = form && form.querySelector('input[type=hidden][name="' + name + '"]');
    if (!form) return;
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.prepend(input);
    }
    input.value = value;
  }

  function go(i) {
    i = Math.max(0, Math.min(steps.length - 1, i));
    if (i === index) return;
    index = i;
    slider.value = i;
    bar.classList.add("replaying");
    formField("at", steps[i]);
    formField("until", until);
    wanted = stepUrl(i);
    history.replaceState(null, "", wanted);
    htmx.ajax("GET", wanted, { target: "#graph-body", swap: "outerHTML" });
  }

  function live() {
    location.assign(document.getElementById("replay-live").href);
  }

  document.addEventListener("htmx:beforeSwap", function (ev) {
    var path = ev.detail.requestConfig && ev.detail.requestConfig.path;
    if (wanted && path && path.indexOf("until=") >= 0 && path !== wanted) {
      ev.detail.shouldSwap = false; // a step the user has already scrubbed past
    }
  });

  var pending = null;
  slider.addEventListener("input", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { go(Number(slider.value)); }, 60);
  });

  bar.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-replay]");
    if (!b) return;
    if (b.getAttribute("data-replay") === "back") back();
    else if (index !== null) go(index + 1);
  });

  // From live, one step back is the capture before the newest.
  function back() { go(index === null ? steps.length - 2 : index - 1); }

  document.addEventListener("click", function (ev) {
    var a = ev.target.closest && ev.target.closest("a[data-replay-to]");
    if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    go(Number(a.getAttribute("data-replay-to")));
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var t = ev.target;
    if (t !== slider && /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) return;
    if (ev.key === "[") { ev.preventDefault(); back(); }
    else if (ev.key === "]" && index !== null) { ev.preventDefault(); go(index + 1); }
    else if (ev.key === "Escape" && index !== null) { ev.preventDefault(); live(); }
  });

  document.addEventListener("peepsweb:live-message", function (ev) {
    var msg = ev.detail;
    if (msg.event !== "snapshot" || !(Number(msg.snapshot_id) > until)) return;
    fresh += 1;
    badge.textContent = fresh + " new snapshot" + (fresh === 1 ? "" : "s") + " since this replay window";
    badge.hidden = false;
  });
})();
