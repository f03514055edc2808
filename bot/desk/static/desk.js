// The desk's one script: keeps an open page current. It waits on /staff/live (which
// answers when anything this account may see has changed), then fetches this same page
// again and swaps in the parts marked data-live. The HTML is our server's own,
// rendered and escaped there. A restarted or unreachable server is simply asked again.
"use strict";
(function () {
  // Filters stay open on a desk screen; on a phone they fold away until asked for.
  const filters = document.getElementById("filters");
  if (filters && window.matchMedia("(min-width: 60rem)").matches) filters.open = true;

  const live = document.getElementById("live");
  if (!live) return;
  const base = live.dataset.title;
  const said = document.getElementById("fresh");
  let version = live.dataset.version;

  async function refresh() {
    const response = await fetch(location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const part of document.querySelectorAll("[data-live]")) {
      const next = fresh.getElementById(part.id);
      if (next) part.replaceWith(next);
    }
    if (said) said.textContent = live.dataset.updated;
  }

  async function watch() {
    for (;;) {
      try {
        const response = await fetch("/staff/live?v=" + encodeURIComponent(version),
          { credentials: "same-origin" });
        if (response.status === 401) { location.assign("/staff/login"); return; }
        if (!response.ok) throw new Error(String(response.status));
        const data = await response.json();
        document.title = (data.waiting ? "(" + data.waiting + ") " : "") + base;
        if (data.v !== version) {
          version = data.v;
          await refresh();
        }
      } catch (e) {
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  }
  watch();
})();
