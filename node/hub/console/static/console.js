// Lali hub console: live updates. Server-sent events name what changed (never content);
// the page then fetches its own server-rendered, escaped fragment and swaps #live.
(function () {
  "use strict";
  var body = document.body;
  var wanted = (body.dataset.live || "").split(" ").filter(Boolean);
  var state = document.getElementById("live-state");
  if (!wanted.length || !window.EventSource) { return; }

  var pending = null;
  var busy = false;
  var again = false;

  function partialUrl() {
    var url = new URL(window.location.href);
    url.searchParams.set("partial", "1");
    url.hash = "";
    return url.toString();
  }

  function refresh() {
    pending = null;
    if (busy) { again = true; return; }
    busy = true;
    fetch(partialUrl(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/login"); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null || html === undefined) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        var current = document.getElementById("live");
        if (fresh && current) {
          current.replaceWith(document.importNode(fresh, true));
          body.dataset.refreshed = String(Date.now());
        }
      })
      .catch(function () { /* the next event retries */ })
      .finally(function () {
        busy = false;
        if (again) { again = false; schedule(); }
      });
  }

  function schedule() {
    if (pending === null) { pending = window.setTimeout(refresh, 500); }
  }

  var source = new EventSource("/events");
  source.onopen = function () {
    if (state) { state.className = "live-state on"; state.textContent = "live"; }
    // Whatever changed between rendering the page and (re)connecting had no listener.
    schedule();
  };
  source.onerror = function () {
    if (state) { state.className = "live-state off"; state.textContent = "reconnecting"; }
  };
  wanted.concat(["resync"]).forEach(function (kind) {
    source.addEventListener(kind, schedule);
  });
  source.addEventListener("close", function () { source.close(); });
  window.addEventListener("beforeunload", function () { source.close(); });
})();
