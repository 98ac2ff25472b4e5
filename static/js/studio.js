// The studio (issue 23): Ctrl/Cmd+Enter generates, the kept prompt has a clear button, the form
// is one tap away on a phone, the image size is remembered, a reference image can be pasted,
// dropped or taken from the viewer, and a background tab says when images finish.
// Event delegation on the document, so what htmx swaps in works without setting up again.
(function () {
  "use strict";

  function form() { return document.getElementById("generate-form"); }

  // The sticky form sits right under the top bar, whose height depends on how its links wrap.
  function measureTopbar() {
    var bar = document.querySelector(".topbar");
    if (bar) document.documentElement.style.setProperty("--topbar-height", bar.offsetHeight + "px");
  }
  if (window.ResizeObserver) {
    document.addEventListener("DOMContentLoaded", function () {
      var bar = document.querySelector(".topbar");
      if (bar) new ResizeObserver(measureTopbar).observe(bar);
    });
  }

  // Ctrl+Enter (Cmd+Enter on a Mac) sends the form, from the prompt or anywhere outside another form.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || event.altKey) return;
    var target = event.target.closest ? event.target : document.body;
    var generate = target.closest("#generate-form");
    if (!generate) {
      var box = document.getElementById("lightbox");
      if ((box && box.open) || target.closest("form, [contenteditable]")) return;
      generate = form();
    }
    if (!generate) return;
    event.preventDefault();
    var button = generate.querySelector('button[type="submit"]');
    if (button && button.disabled) return; // already on its way (htmx disables it meanwhile)
    generate.requestSubmit(button || undefined);
  });

  document.addEventListener("click", function (event) {
    // The prompt is kept after Generate; this empties it for a new idea.
    if (event.target.closest("[data-clear-prompt]")) {
      var prompt = form() && form().querySelector('[name="prompt"]');
      if (prompt) { prompt.value = ""; prompt.dispatchEvent(new Event("input", { bubbles: true })); prompt.focus(); }
    }
    // On a phone the form is above the gallery: the floating button goes back to it.
    if (event.target.closest("[data-to-compose]")) {
      var field = form() && form().querySelector('[name="prompt"]');
      if (field) {
        event.preventDefault();
        document.getElementById("compose").scrollIntoView({ behavior: "smooth", block: "start" });
        field.focus({ preventScroll: true });
      }
    }
    var use = event.target.closest("[data-use-reference]");
    if (use) useAsReference(use.getAttribute("data-use-reference"));
    // The reference image kept from an earlier upload: the next request goes without it.
    var drop = event.target.closest("[data-drop-reference]");
    if (drop && form()) {
      var key = form().querySelector('[name="reference_upload_key"]');
      if (key) key.value = "";
      var note = drop.closest("[data-kept-reference]");
      if (note) note.remove();
      // Nor its kind: a kind without an image is refused. A URL typed in stays, with its kind.
      var type = form().querySelector('[name="image_reference_type"]');
      var link = form().querySelector('[name="image_reference_image_url"]');
      if (type && !(link && link.value)) { type.value = ""; type.dispatchEvent(new Event("change", { bubbles: true })); }
    }
  });

  // The floating "New image" button shows only while the form is out of view.
  document.addEventListener("DOMContentLoaded", function () {
    var compose = document.getElementById("compose");
    var button = document.querySelector("[data-to-compose]");
    if (!compose || !button || !window.IntersectionObserver) return;
    new IntersectionObserver(function (entries) {
      button.classList.toggle("shown", !entries[0].isIntersecting);
    }).observe(compose);
  });

  // Image size: the grid's tile width, kept in a cookie so the server draws the page at that
  // size (set after the first paint, it would move every card: layout shift).
  document.addEventListener("input", function (event) {
    if (!event.target.matches("[data-tile-size]")) return;
    var size = Number(event.target.value);
    var gallery = document.getElementById("gallery");
    if (gallery) gallery.style.setProperty("--tile", size + "px");
    document.cookie = "soulsite_tile=" + size + "; path=/; max-age=31536000; SameSite=Lax";
  });

  // A reference image: pasted, dropped on the form, or taken from the viewer ("use as reference").
  var UPLOADS_OFF = "Uploads are off on this site (it has no public address the gateway could fetch an image from), " +
    "so an image cannot be the reference here: give an image URL instead.";

  function setReference(file, label) {
    var generate = form();
    var input = generate && generate.querySelector('[name="image_reference_upload"]');
    if (!input || !window.DataTransfer) return false;
    if (document.querySelector("#compose[data-uploads-off]")) {
      var more = input.closest("details");
      if (more) more.open = true;
      say(input, UPLOADS_OFF);
      return true;
    }
    var files = new DataTransfer();
    files.items.add(file);
    input.files = files.files;
    input.dispatchEvent(new Event("change", { bubbles: true })); // sets "Image reference" (soulsite.js)
    var type = generate.querySelector('[name="image_reference_type"]');
    if (type) type.value = "image_url";
    var url = generate.querySelector('[name="image_reference_image_url"]');
    if (url) url.value = ""; // an upload or a URL, not both
    var more = input.closest("details");
    if (more) more.open = true;
    preview(input, file, label);
    return true;
  }

  function say(input, words) {
    var note = noteFor(input);
    note.classList.add("field-error");
    note.textContent = words;
  }

  function noteFor(input) {
    var old = input.parentNode.querySelector(".reference-preview");
    if (old) old.remove();
    var note = document.createElement("p");
    note.className = "reference-preview";
    note.setAttribute("role", "status");
    input.parentNode.appendChild(note);
    return note;
  }

  function preview(input, file, label) {
    var note = noteFor(input);
    var img = document.createElement("img");
    img.alt = "";
    img.width = 48;
    img.height = 48;
    var reader = new FileReader(); // a data: URL: the page's policy allows no blob: images
    reader.onload = function () { img.src = reader.result; };
    reader.readAsDataURL(file);
    note.appendChild(img);
    note.appendChild(document.createTextNode(" " + label));
  }

  function useAsReference(url) {
    fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.blob();
    }).then(function (blob) {
      var name = "reference." + ((blob.type.split("/")[1] || "png").replace("jpeg", "jpg"));
      if (setReference(new File([blob], name, { type: blob.type }), "The image from the gallery is the reference.")) {
        // Bring the reference into view: the form scrolls on its own beside the gallery.
        var shown = form().querySelector(".reference-preview");
        if (shown) shown.scrollIntoView({ behavior: "smooth", block: "nearest" });
      }
    }).catch(function () { /* the image went away: nothing to put in the form */ });
  }

  function imageFile(transfer) {
    var files = Array.prototype.slice.call((transfer && transfer.files) || []);
    return files.filter(function (file) { return /^image\//.test(file.type); })[0];
  }

  document.addEventListener("paste", function (event) {
    var file = imageFile(event.clipboardData);
    if (!file || !form()) return;
    var inForm = event.target.closest && event.target.closest("#generate-form");
    var typing = event.target.closest && event.target.closest("input, textarea, select, [contenteditable]");
    if (!inForm && typing) return;
    if (setReference(file, "The pasted image is the reference.")) event.preventDefault();
  });

  function dropTarget(event) { return event.target.closest && event.target.closest("#compose"); }

  document.addEventListener("dragover", function (event) {
    var compose = dropTarget(event);
    if (!compose) return;
    event.preventDefault();
    compose.classList.add("dropping");
  });
  document.addEventListener("dragleave", function (event) {
    var compose = dropTarget(event);
    if (compose && !compose.contains(event.relatedTarget)) compose.classList.remove("dropping");
  });
  document.addEventListener("drop", function (event) {
    var compose = dropTarget(event);
    if (!compose) return;
    event.preventDefault();
    compose.classList.remove("dropping");
    var file = imageFile(event.dataTransfer);
    if (file) { setReference(file, "The dropped image is the reference."); return; }
    // A thumbnail dragged from the gallery: its link is this site's full-size image.
    var link = event.dataTransfer.getData("text/uri-list") || event.dataTransfer.getData("text/plain");
    try {
      var url = new URL(link.split("\n")[0].trim(), window.location.href);
      if (url.origin === window.location.origin && /^\/images\/\d+\/(raw|min)\/$/.test(url.pathname)) {
        useAsReference(url.pathname.replace(/min\/$/, "raw/"));
      }
    } catch (e) { /* not a link */ }
  });
})();

// Word when images finish while the tab is in the background: a count in the tab's title, and
// if asked for, a browser notification and a short sound.
(function () {
  "use strict";
  var title = document.title;
  var known = null;
  var unseen = 0;
  var fresh = 0;
  var timer = null;
  var audio = null;

  function ids() {
    return Array.prototype.map.call(document.querySelectorAll("#gallery a[data-lightbox][data-job]"), function (link) {
      return link.getAttribute("data-job");
    });
  }

  function wanted(name) { return window.localStorage && localStorage.getItem("soulsite-" + name) === "1"; }

  function beep() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    audio = audio || new Context();
    var tone = audio.createOscillator(), gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.001, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.2, audio.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.35);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  }

  function tell() {
    timer = null;
    var count = fresh;
    fresh = 0;
    if (!count) return;
    var words = count + (count === 1 ? " image is" : " images are") + " ready";
    if (wanted("notify") && window.Notification && Notification.permission === "granted") {
      new Notification(words, { tag: "soulsite-done", icon: "/static/favicon.svg" });
    }
    if (wanted("sound")) beep();
  }

  function seen() {
    var now = ids();
    if (known === null) { known = new Set(now); return; }
    now.forEach(function (id) {
      if (known.has(id)) return;
      known.add(id);
      if (document.visibilityState === "hidden") { unseen += 1; fresh += 1; }
    });
    if (unseen) document.title = "(" + unseen + ") " + title;
    if (fresh && !timer) timer = setTimeout(tell, 800); // one word for a batch, not one per image
  }

  document.addEventListener("DOMContentLoaded", function () {
    var gallery = document.getElementById("gallery");
    if (!gallery) return;
    seen();
    // The section is replaced when filters change, so watch the page and read the gallery's links.
    new MutationObserver(seen).observe(document.querySelector("main") || document.body, { childList: true, subtree: true });
    document.querySelectorAll("[data-notify], [data-sound]").forEach(function (box) {
      box.checked = wanted(box.hasAttribute("data-notify") ? "notify" : "sound");
    });
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    // A new filter or sort draws another set of images: those are not "finished", so forget the old set.
    if (event.detail.target && event.detail.target.id === "gallery-section") known = null;
  });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { unseen = 0; document.title = title; }
  });

  // refresh.js stops asking while the tab is hidden (no requests nobody sees), but then nothing
  // would finish here to count. So ask it to go on, less often, through its own one timer (one
  // request in flight at most, the same backoff): browsers slow a background tab's timers to a
  // second or more anyway.
  var BACKGROUND_MS = 5000;
  document.addEventListener("DOMContentLoaded", function () {
    if (window.soulsiteRefresh) window.soulsiteRefresh.whileHidden(BACKGROUND_MS);
  });

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.matches("[data-sound]")) {
      localStorage.setItem("soulsite-sound", box.checked ? "1" : "0");
      if (box.checked) beep(); // a sample, and the browser lets sound play after this click
    }
    if (box.matches("[data-notify]")) {
      if (!box.checked || !window.Notification) { localStorage.setItem("soulsite-notify", "0"); box.checked = false; return; }
      Notification.requestPermission().then(function (answer) {
        box.checked = answer === "granted";
        localStorage.setItem("soulsite-notify", box.checked ? "1" : "0");
        if (!box.checked) box.parentNode.title = "The browser refused notifications for this site: allow them in its settings.";
      });
    }
  });
})();
