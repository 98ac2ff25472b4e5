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
        form.scrollIntoView({ behavior: "smooth", block: "start" });
        var prompt = form.querySelector('[name="prompt"]');
        if (prompt) prompt.focus({ preventScroll: true });
      }
    }
  });
})();

// The team switcher submits as soon as a team is chosen (its button is for no-JS use).
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-autosubmit]")) event.target.form.requestSubmit();
  });
})();
