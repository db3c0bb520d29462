// Lali hub console: local times and live updates.
// Times are written in UTC by the server (<time datetime="…Z">); this adds the browser's
// local time (and how long ago) to each one's title, and after those marked
// data-local="inline". Server-sent events name what changed (never content); the page
// then fetches its own server-rendered, escaped fragment and swaps #live.
(function () {
  "use strict";
  var body = document.body;
  var local = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", timeZoneName: "short"
  });

  function ago(date) {
    var s = (Date.now() - date.getTime()) / 1000;
    if (s < 0) { return "in the future"; }
    var units = [["d", 86400], ["h", 3600], ["min", 60]];
    for (var i = 0; i < units.length; i++) {
      if (s >= units[i][1]) { return Math.round(s / units[i][1]) + " " + units[i][0] + " ago"; }
    }
    return Math.round(s) + " s ago";
  }

  function localTimes(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) { continue; }
      var utc = el.getAttribute("datetime").replace("T", " ").replace(/\.\d+Z$/, " UTC");
      el.title = "UTC " + utc.replace(" UTC", "") + " · local " + local.format(date) + " · " + ago(date);
      if (el.dataset.local === "inline" && !el.dataset.localised) {
        var span = document.createElement("span");
        span.className = "local";
        span.textContent = " (" + local.format(date) + " local)";
        el.after(span);
        el.dataset.localised = "1";
      }
    }
  }
  localTimes(document);

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
          var node = document.importNode(fresh, true);
          localTimes(node);
          current.replaceWith(node);
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
