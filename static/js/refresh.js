// One refresh per tab (generations/web/views/refresh.py). While anything on the page is pending
// (a card marked data-refresh-card, an exploration's group card marked data-refresh-exploration,
// the queue's list marked data-refresh-queue), ask for all of it in one request every 2 s, and
// swap each part the answer carries into place by its id (htmx's out-of-band swap: the cards, the
// group cards, #queue-body, #spend-chip). Nothing pending: no timer, no requests.
// One request at a time; none while the tab is hidden (unless a page part asks for a slower pace
// then: window.soulsiteRefresh.whileHidden(ms)), and one at once when it is shown again.
(function () {
  "use strict";

  var script = document.currentScript;
  var address = script && script.getAttribute("data-refresh-url");
  var PERIOD_MS = 2000;
  var LONGEST_WAIT_MS = 30000; // after failures the wait doubles up to this, so a down server is not hammered
  var MOST_CARDS = 500; // as the server's MAX_CARDS and MAX_EXPLORATIONS: a longer list is refused
  var MOST_GROUPS = 50;

  var timer = null;
  var inFlight = false;
  var failures = 0;
  var refused = false; // a 4xx: asking again the same way cannot help until the page changes
  var hiddenPeriodMs = null; // null: stop while hidden; else refresh this often while hidden

  function pendingCards() { return document.querySelectorAll("[data-refresh-card]"); }
  function pendingGroups() { return document.querySelectorAll("[data-refresh-exploration]"); }
  function pendingQueue() { return document.querySelector("#queue-body[data-refresh-queue]"); }
  function anyPending() {
    return pendingCards().length > 0 || pendingGroups().length > 0 || pendingQueue() !== null;
  }
  function hidden() { return document.visibilityState === "hidden"; }
  function paused() { return hidden() && hiddenPeriodMs === null; }
  function period() { return hidden() ? hiddenPeriodMs : PERIOD_MS; }

  function stopTimer() {
    if (timer !== null) { window.clearTimeout(timer); timer = null; }
  }

  function schedule(delay) {
    if (!address || refused || timer !== null || inFlight || paused() || !anyPending()) return;
    timer = window.setTimeout(refresh, delay);
  }

  function refresh() {
    timer = null;
    if (inFlight || refused || paused() || !anyPending() || !window.htmx) return;
    var query = new URLSearchParams();
    var wanted = ["#spend-chip"];
    Array.prototype.slice.call(pendingCards(), 0, MOST_CARDS).forEach(function (card) {
      query.append("card", card.getAttribute("data-refresh-card"));
      wanted.push("#" + card.id);
    });
    Array.prototype.slice.call(pendingGroups(), 0, MOST_GROUPS).forEach(function (group) {
      query.append("exploration", group.getAttribute("data-refresh-exploration"));
      wanted.push("#" + group.id);
    });
    if (pendingQueue()) {
      query.set("queue", "1");
      wanted.push("#queue-body");
    }
    inFlight = true;
    var asked = Date.now();
    // HX-Request: the server draws fragments for htmx's requests, not whole pages.
    fetch(address + "?" + query.toString(), {
      headers: { "HX-Request": "true" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        // The session ended: the server says where to log in (HX-Redirect, generations/web/
        // login.py), and the whole page goes there, to come back here after.
        var away = response.headers.get("HX-Redirect");
        if (away) { refused = true; window.location.assign(away); return ""; }
        if (response.redirected) { refused = true; return ""; }
        if (response.status === 204) return "";
        if (!response.ok) throw response;
        return response.text();
      })
      .then(function (html) {
        failures = 0;
        if (html) window.htmx.swap(document.body, html, { swapStyle: "none" }, { selectOOB: wanted.join(",") });
      })
      .catch(function (problem) {
        if (problem && problem.status >= 400 && problem.status < 500) refused = true;
        failures += 1;
      })
      .finally(function () {
        inFlight = false;
        // Every 2 s from one request's start to the next (not 2 s after each answer), so a slow
        // answer does not stretch the wait for the next image; still never two at once.
        var wait = failures ? Math.min(period() * Math.pow(2, failures), LONGEST_WAIT_MS) : period();
        schedule(Math.max(0, wait - (Date.now() - asked)));
      });
  }

  // Hidden: stop asking (or slow down). Shown again: ask at once, since what it shows may be old.
  document.addEventListener("visibilitychange", function () {
    stopTimer();
    if (hidden()) schedule(period());
    else refresh();
  });

  // New content (a card after Generate, older cards, a boosted queue page, the view tabs) may hold
  // something pending: start again if stopped. A refresh's own swaps land here too, harmlessly.
  document.addEventListener("htmx:load", function () {
    refused = false;
    schedule(period());
  });

  // For other scripts: the studio's "tell me when it is done" needs cards to finish in a hidden tab,
  // so it may ask for a slower refresh then, through this same timer (never a second request).
  window.soulsiteRefresh = {
    whileHidden: function (ms) {
      var asked = Number(ms);
      hiddenPeriodMs = asked > 0 ? Math.max(asked, PERIOD_MS) : null; // never faster than when shown
      stopTimer();
      schedule(period());
    },
  };

  schedule(PERIOD_MS);
})();
