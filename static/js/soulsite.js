// soulsite's small behaviours. Event delegation on the document, so content
// swapped in by htmx works without setting anything up again.
(function () {
  "use strict";

  function closestForm(el) { return el && el.closest("form"); }

  // A slider shows its value beside its label.
  document.addEventListener("input", function (event) {
    var el = event.target;
    if (el.matches('input[type="range"]')) {
      var out = document.querySelector('output[for="' + el.id + '"]');
      if (out) out.textContent = Number(el.value).toFixed(2);
    }
    if (el.name === "image_reference_image_url" && el.value) setReferenceType(el, "image_url");
    summarise(closestForm(el));
  });

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.name === "image_reference_upload" && el.files && el.files.length) setReferenceType(el, "image_url");
    // The price depends on quality and batch size: ask the server for it again (htmx listens on #price).
    if (el.name === "quality" || el.name === "batch_size") {
      var price = document.getElementById("price");
      if (price) price.dispatchEvent(new Event("price-change"));
    }
    summarise(closestForm(el));
  });

  // "Random" clears the seed: Soul then picks one.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-random-seed]");
    if (!button) return;
    var form = closestForm(button);
    var seed = form.querySelector('[name="seed"]');
    seed.value = "";
    var keep = form.querySelector('[name="keep_seed"]');
    if (keep) keep.checked = false;
    seed.focus();
    summarise(form);
  });

  function setReferenceType(el, value) {
    var select = closestForm(el).querySelector('[name="image_reference_type"]');
    if (select && !select.value) select.value = value;
  }

  // The "More options" summary says what is set inside, so folding it hides nothing.
  function summarise(form) {
    if (!form || form.id !== "generate-form") return;
    var said = [];
    var seed = form.querySelector('[name="seed"]');
    if (seed && seed.value) said.push("seed " + seed.value);
    var enhance = form.querySelector('[name="enhance_prompt"]');
    if (enhance && enhance.checked) said.push("enhance prompt");
    var character = form.querySelector('[name="custom_reference_id"]');
    if (character && character.value) said.push("character " + character.options[character.selectedIndex].text);
    var reference = form.querySelector('[name="image_reference_type"]');
    if (reference && reference.value) said.push("image reference");
    var target = form.querySelector("[data-more-set]");
    if (target) target.textContent = said.length ? "· " + said.join(" · ") : "";
  }

  // After "use these settings" fills the form, bring it into view and focus the prompt.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "generate-form" && event.detail.requestConfig &&
        event.detail.requestConfig.verb === "get") {
      var form = document.getElementById("generate-form");
      if (form) {
        // "nearest": beside the gallery (wide screens) the form is in view already and nothing
        // scrolls; on a phone it comes into view.
        form.scrollIntoView({ behavior: "smooth", block: "nearest" });
        var prompt = form.querySelector('[name="prompt"]');
        if (prompt) prompt.focus({ preventScroll: true });
      }
    }
  });
})();

// Searching as one types waits for three characters. One or two match almost every prompt or
// almost none, and learning that none do means reading the team's whole history (seconds at a
// million job sets), asked for at every pause while a longer word is being typed. Enter, or
// leaving the box, still searches for them; emptying the box shows everything again at once.
var LIVE_SEARCH_MIN = 3;
var SEARCH_AGAIN = "search-again"; // see below: a search for what was typed while one was answered
document.addEventListener("htmx:confirm", function (event) {
  var trigger = event.detail.triggeringEvent, type = trigger && trigger.type;
  var box = type === "input" ? trigger.target : type === SEARCH_AGAIN ? trigger.target.elements.q : null;
  if (!box || box.name !== "q" || !box.closest("form.filters")) return;
  var length = box.value.trim().length;
  if (length > 0 && length < LIVE_SEARCH_MIN) event.preventDefault();
});
document.addEventListener("input", function (event) {
  var box = event.target;
  if (box.name !== "q" || !box.closest("form.filters")) return;
  var hint = box.form.querySelector("[data-search-hint]");
  var length = box.value.trim().length;
  if (hint) hint.hidden = !(length > 0 && length < LIVE_SEARCH_MIN);
});

// A search swaps the whole gallery section, its search box included, for one drawn with the term
// it was asked for, and typing goes on meanwhile. What was typed after the search left would be
// taken back by the new box, so it keeps what was typed, and where. Once htmx has set up the new
// form (it settles a moment after the swap, and only hears typing from then on), a box that holds
// anything but the term the answer was drawn for is searched for again, by the live search's own
// rules (filters.html's hx-trigger has this event; three characters, as above).
var gallerySwap = null; // from the gallery section's swap until it has settled
document.addEventListener("htmx:beforeSwap", function (event) {
  if (!event.detail.target || event.detail.target.id !== "gallery-section") return;
  var box = document.getElementById("f-q");
  var typing = box && document.activeElement === box;
  gallerySwap = { typed: typing ? { value: box.value, start: box.selectionStart, end: box.selectionEnd } : null };
});
document.addEventListener("htmx:afterSwap", function () {
  var box = document.getElementById("f-q");
  // Once per swap (htmx tells every element it put in).
  if (!gallerySwap || "drawnFor" in gallerySwap || !box) return;
  gallerySwap.drawnFor = box.value;
  var typed = gallerySwap.typed;
  if (!typed || typed.value === box.value) return;
  box.value = typed.value;
  box.focus({ preventScroll: true });
  box.setSelectionRange(typed.start, typed.end);
  box.dispatchEvent(new Event("input", { bubbles: true })); // the hint follows what the box holds
});
document.addEventListener("htmx:afterSettle", function () {
  var box = document.getElementById("f-q"), swap = gallerySwap;
  if (!swap || !("drawnFor" in swap)) return;
  gallerySwap = null;
  if (box && box.form && box.value !== swap.drawnFor) window.htmx.trigger(box.form, SEARCH_AGAIN);
});

// The gallery's filters send only what is set, so the address pushed into the history reads
// "?q=fox&status=failed", not every empty field of the form (a reload or a shared link gives
// the same view either way).
document.addEventListener("htmx:configRequest", function (event) {
  var form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("form.filters");
  if (!form || event.detail.verb !== "get") return;
  var parameters = event.detail.parameters;
  var names = [];
  if (typeof parameters.keys === "function") {
    for (var name of parameters.keys()) names.push(name);
  } else {
    names = Object.keys(parameters);
  }
  names.forEach(function (name) {
    var value = typeof parameters.get === "function" ? parameters.get(name) : parameters[name];
    if (value === "" || value === null) delete parameters[name];
  });
});

// The team switcher submits as soon as a team is chosen (its button is for no-JS use).
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-autosubmit]")) event.target.form.requestSubmit();
  });
})();

// Choosing images for bulk actions: tick boxes, shift-click for a range, or everything matching the view.
(function () {
  "use strict";
  var last = null;

  function boxes() { return Array.prototype.slice.call(document.querySelectorAll('input.pick[form="bulk-form"]')); }

  function refresh() {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    var ticked = boxes().filter(function (box) { return box.checked; });
    var all = form.querySelector("[data-all-matching]").value === "1";
    form.classList.toggle("active", all || ticked.length > 0);
    form.querySelector("[data-bulk-count]").textContent = all ? "All images matching this view" : ticked.length + " selected";
    var compare = form.querySelector("[data-compare]");
    if (compare) {
      compare.hidden = all || ticked.length !== 2;
      if (ticked.length === 2) compare.href = "/compare/?job=" + ticked[0].value + "&job=" + ticked[1].value;
    }
  }

  document.addEventListener("click", function (event) {
    var box = event.target.closest('input.pick[form="bulk-form"]');
    if (box) {
      if (event.shiftKey && last && last !== box) {
        var all = boxes();
        var from = all.indexOf(last), to = all.indexOf(box);
        all.slice(Math.min(from, to), Math.max(from, to) + 1).forEach(function (b) { b.checked = box.checked; });
      }
      last = box;
      document.querySelector("#bulk-form [data-all-matching]").value = "";
      refresh();
    }
    var form = document.getElementById("bulk-form");
    if (event.target.closest("[data-select-all]") && form) {
      form.querySelector("[data-all-matching]").value = "1";
      boxes().forEach(function (b) { b.checked = true; });
      refresh();
    }
    if (event.target.closest("[data-clear]") && form) {
      form.querySelector("[data-all-matching]").value = "";
      boxes().forEach(function (b) { b.checked = false; });
      refresh();
    }
  });
  document.addEventListener("htmx:afterSwap", refresh);
  document.addEventListener("DOMContentLoaded", refresh);
})();
