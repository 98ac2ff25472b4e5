// The viewer (issue 23): a native <dialog> (Esc closes it) filled by htmx with one image.
// It walks only the images the gallery can show (a failed or hidden one has no link), zooms
// and pans, follows a swipe, and answers the keys listed in gallery.html's #viewer-keys.
(function () {
  "use strict";
  var current = null; // the data-job of the image shown
  var view = { scale: 1, x: 0, y: 0 };
  var MAX_SCALE = 8;
  var SWIPE_PX = 50;

  function dialog() { return document.getElementById("lightbox"); }
  function isOpen() { var box = dialog(); return !!(box && box.open); }
  function links() { return Array.prototype.slice.call(document.querySelectorAll("#gallery a[data-lightbox][data-job]")); }
  function linkOf(job) { return links().filter(function (link) { return link.getAttribute("data-job") === job; })[0]; }
  function image() { return document.querySelector("#lightbox-body [data-viewer-image]"); }
  function stage() { return document.querySelector("#lightbox-body [data-viewer-stage]"); }
  function body(selector) { return document.querySelector("#lightbox-body " + selector); }

  function open(link) {
    var box = dialog();
    if (!box || !window.htmx) return false;
    current = link.getAttribute("data-job");
    window.htmx.ajax("GET", link.getAttribute("data-lightbox"), { target: "#lightbox-body", swap: "innerHTML" });
    if (!box.open) box.showModal();
    return true;
  }

  function step(direction) {
    var all = links();
    var index = all.findIndex(function (link) { return link.getAttribute("data-job") === current; });
    var next = all[index + direction];
    if (next) open(next);
    return !!next;
  }

  // "Image 2 of 3" counts what can be shown: a batch of 4 with one failure has 3 to walk.
  // ``shown``: the image the viewer holds now, which may be an older one than ``current``.
  function count(shown) {
    var label = body("[data-viewer-count]");
    var link = shown && linkOf(shown);
    if (!label || !link) return;
    var card = link.closest("article");
    var mine = card ? Array.prototype.slice.call(card.querySelectorAll("a[data-lightbox][data-job]")) : [link];
    var all = links();
    var text = "Image " + (mine.indexOf(link) + 1) + " of " + mine.length;
    if (all.length > mine.length) text += " (" + (all.indexOf(link) + 1) + " of " + all.length + " here)";
    label.textContent = text;
    // The buttons step from the newest image asked for, as the arrow keys do.
    var at = all.indexOf(linkOf(current) || link);
    var prev = body('[data-viewer-step="-1"]'), next = body('[data-viewer-step="1"]');
    if (prev) prev.disabled = at <= 0;
    if (next) next.disabled = at >= all.length - 1;
  }

  // Zoom and pan: a CSS transform on the image, clamped so it never leaves its frame.
  function apply() {
    var img = image();
    if (!img) return;
    var frame = stage().getBoundingClientRect();
    var spareX = (frame.width * (view.scale - 1)) / 2, spareY = (frame.height * (view.scale - 1)) / 2;
    view.x = Math.max(-spareX, Math.min(spareX, view.x));
    view.y = Math.max(-spareY, Math.min(spareY, view.y));
    img.style.transform = view.scale === 1 ? "" : "translate(" + view.x + "px, " + view.y + "px) scale(" + view.scale + ")";
    stage().classList.toggle("zoomed", view.scale > 1);
  }

  function zoomTo(scale, clientX, clientY) {
    var frame = stage() && stage().getBoundingClientRect();
    if (!frame) return;
    scale = Math.max(1, Math.min(MAX_SCALE, scale));
    // Keep the point under the pointer (or the centre) where it is.
    var px = (clientX === undefined ? frame.width / 2 : clientX - frame.left) - frame.width / 2;
    var py = (clientY === undefined ? frame.height / 2 : clientY - frame.top) - frame.height / 2;
    var ratio = scale / view.scale;
    view.x = px - (px - view.x) * ratio;
    view.y = py - (py - view.y) * ratio;
    view.scale = scale;
    if (scale === 1) { view.x = 0; view.y = 0; }
    apply();
  }

  function note(text) {
    var out = body("[data-viewer-note]");
    if (out) out.textContent = text;
    return out;
  }

  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function post(url, fields) {
    var data = new FormData();
    Object.keys(fields).forEach(function (name) { data.append(name, fields[name]); });
    return fetch(url, { method: "POST", body: data, headers: { "X-CSRFToken": csrf() }, credentials: "same-origin" });
  }

  // Hide: the bulk action for one image; its thumb leaves the gallery and the next one is shown.
  function hide(button) {
    var job = button.getAttribute("data-viewer-hide");
    var here = window.location.pathname + window.location.search;
    post(button.getAttribute("data-bulk-url"), { action: "hide", job: job, next: here }).then(function (response) {
      if (!response.ok) { note("Could not hide it: the server answered " + response.status + "."); return; }
      var link = linkOf(job);
      var moved = step(1) || step(-1);
      if (link) {
        var card = link.closest("article"), thumb = link.closest(".thumb");
        if (thumb) thumb.remove();
        if (card && !card.querySelector(".thumb")) card.remove();
      }
      if (!moved && isOpen()) dialog().close();
    });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-lightbox]");
    if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && open(link)) event.preventDefault();
    var box = dialog();
    if (event.target.closest("[data-close-lightbox]") && box && box.open) box.close();
    var stepper = event.target.closest("[data-viewer-step]");
    if (stepper) step(Number(stepper.getAttribute("data-viewer-step")));
    if (event.target.closest("[data-viewer-keys]")) toggleKeys();
    var hider = event.target.closest("[data-viewer-hide]");
    if (hider) hide(hider);
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () { copy.textContent = "Copied"; });
      }
    }
    var pick = event.target.closest("[data-compare-pick]");
    if (pick) {
      var first = sessionStorage.getItem("soulsite-compare");
      var id = pick.getAttribute("data-compare-pick");
      if (first && first !== id) {
        sessionStorage.removeItem("soulsite-compare");
        window.location.href = "/compare/?job=" + first + "&job=" + id;
      } else {
        sessionStorage.setItem("soulsite-compare", id);
        pick.textContent = "Picked: open another and press Compare…";
      }
    }
  });

  function toggleKeys() {
    var keys = document.getElementById("viewer-keys");
    if (keys) keys.hidden = !keys.hidden;
  }

  function press(selector) {
    var target = body(selector);
    if (target) target.click();
    return !!target;
  }

  var KEYS = {
    ArrowRight: function () { step(1); },
    ArrowLeft: function () { step(-1); },
    "+": function () { zoomTo(view.scale * 1.5); },
    "=": function () { zoomTo(view.scale * 1.5); },
    "-": function () { zoomTo(view.scale / 1.5); },
    "0": function () { zoomTo(1); },
    s: function () { press(".star"); },
    d: function () { press("[data-viewer-download]"); },
    h: function () { press("[data-viewer-hide]"); },
    c: function () { press("[data-copy]"); },
    r: function () { press("[data-use-reference]"); },
    v: function () { press("[data-viewer-vary]"); },
    a: function () { press("[data-viewer-again]"); },
    "?": toggleKeys,
  };

  document.addEventListener("keydown", function (event) {
    if (!isOpen() || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest && event.target.closest("input, textarea, select, [contenteditable]")) return;
    var action = KEYS[event.key.length === 1 ? event.key.toLowerCase() : event.key] || KEYS[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });

  document.addEventListener("wheel", function (event) {
    if (!isOpen() || !event.target.closest("[data-viewer-stage]") || !image()) return;
    event.preventDefault();
    zoomTo(view.scale * (event.deltaY < 0 ? 1.2 : 1 / 1.2), event.clientX, event.clientY);
  }, { passive: false });

  document.addEventListener("dblclick", function (event) {
    if (!event.target.closest("[data-viewer-image]")) return;
    zoomTo(view.scale > 1 ? 1 : 2.5, event.clientX, event.clientY);
  });

  // One pointer: drag pans a zoomed image; on a fitted one a sideways swipe walks.
  var drag = null;
  document.addEventListener("pointerdown", function (event) {
    if (!isOpen() || !event.target.closest("[data-viewer-stage]") || event.target.closest("button")) return;
    drag = { x: event.clientX, y: event.clientY, fromX: view.x, fromY: view.y };
  });
  document.addEventListener("pointermove", function (event) {
    if (!drag || view.scale === 1) return;
    view.x = drag.fromX + event.clientX - drag.x;
    view.y = drag.fromY + event.clientY - drag.y;
    apply();
  });
  document.addEventListener("pointerup", function (event) {
    if (!drag) return;
    var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    drag = null;
    if (view.scale === 1 && Math.abs(dx) > SWIPE_PX && Math.abs(dx) > Math.abs(dy)) step(dx < 0 ? 1 : -1);
  });
  document.addEventListener("pointercancel", function () { drag = null; });

  // An image arrived. The walk goes on from ``current``, the newest one asked for, not from this
  // one: arrow keys pressed quickly ask for the next images while an older one is still on its
  // way (htmx sends them in turn, keeping only the newest that waits), and walking on from
  // whichever arrived last lost those presses.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "lightbox-body") return;
    view = { scale: 1, x: 0, y: 0 };
    var shown = body("[data-lightbox-job]");
    count(shown ? shown.getAttribute("data-lightbox-job") : current);
  });

  // Vary and try again answer with the new card, which htmx puts at the top of the gallery.
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.matches || !elt.matches("[data-sent-note]")) return;
    note(event.detail.successful ? "Sent: its card is at the top of the gallery." : "Not sent: the server refused it.");
  });
})();
