// Web chat client: no framework, no third-party code. Text is always inserted with
// textContent, never as HTML, so whatever a message holds is shown as typed.
"use strict";
(function () {
  const S = JSON.parse(document.body.dataset.strings);
  const lang = document.body.dataset.lang;
  const log = document.getElementById("log");
  const statusLine = document.getElementById("status");
  const text = document.getElementById("text");
  let csrf = "";
  let after = 0;
  let polling = null;  // the long poll in flight, aborted when the session changes

  const id = () => crypto.randomUUID().replace(/-/g, "");

  async function api(path, body, isForm) {
    const headers = { "X-CSRF-Token": csrf };
    if (!isForm) headers["Content-Type"] = "application/json";
    const response = await fetch("/chat/api/" + path, {
      method: "POST", headers, credentials: "same-origin",
      body: isForm ? body : JSON.stringify(body),
    });
    if (response.status === 428) { await open(); return api(path, body, isForm); }
    if (!response.ok) throw new Error(String(response.status));
    const data = await response.json();
    if (data.csrf) {  // a new session (after /join): its token, and its mailbox now
      csrf = data.csrf;
      if (polling) polling.abort();
    }
    return data;
  }

  async function solve(challenge) {
    statusLine.textContent = S.verifying;
    const encoder = new TextEncoder();
    for (let answer = 0; ; answer++) {
      const digest = new Uint8Array(await crypto.subtle.digest(
        "SHA-256", encoder.encode(challenge.nonce + ":" + answer)));
      let zeros = 0;
      for (const byte of digest) {
        if (byte === 0) { zeros += 8; continue; }
        zeros += Math.clz32(byte) - 24; break;
      }
      if (zeros >= challenge.bits) return String(answer);
    }
  }

  async function open() {
    const response = await fetch("/chat/api/open?lang=" + lang,
      { method: "POST", credentials: "same-origin" });
    if (!response.ok) { statusLine.textContent = S.error; return; }
    const session = await response.json();
    csrf = session.csrf;
    if (session.challenge) {
      const answer = await solve(session.challenge);
      await api("pow", { nonce: session.challenge.nonce, sig: session.challenge.sig, answer });
    }
    statusLine.textContent = "";
  }

  function bubble(content, mine) {
    const div = document.createElement("div");
    div.className = mine ? "msg me" : "msg";
    div.textContent = content;
    log.appendChild(div);
    toBottom();
    return div;
  }

  function toBottom() {
    requestAnimationFrame(() => window.scrollTo(0, document.body.scrollHeight));
  }

  function show(message) {
    const div = bubble(message.text, false);
    const code = message.text.match(/[0-9A-Z]{4}-[0-9A-Z]{4}/);
    const receipt = message.text.match(/\d{4} \d{4} \d{4} \d{4}/);
    if (code && receipt) {
      const copy = document.createElement("button");
      copy.type = "button"; copy.className = "copy"; copy.textContent = S.copy;
      copy.addEventListener("click", async () => {
        await navigator.clipboard.writeText(code[0] + " " + receipt[0]);
        copy.textContent = S.copied;
      });
      div.appendChild(document.createElement("br"));
      div.appendChild(copy);
    }
    if (message.file && /^\/chat\/api\/file\/[0-9a-f]{32}$/.test(message.file.url)) {
      // An attachment this chat may open (the server checks again on every request).
      if (message.text) div.appendChild(document.createElement("br"));
      if (message.file.kind === "photo") {
        const img = document.createElement("img");
        img.className = "attachment"; img.alt = S.attachment; img.src = message.file.url;
        div.appendChild(img);
      } else {
        const link = document.createElement("a");
        link.href = message.file.url; link.textContent = S.attachment; link.download = "";
        div.appendChild(link);
      }
    }
    // A step's buttons belong to one question of a draft (their data carries its tag):
    // once a newer question arrives they are stale, so they look it. Menus and
    // officers' alert buttons carry no tag and stay live (an officer may act on an
    // older alert).
    const tagged = (choice) => (choice.data || "").split("|")[1] !== "-";
    if ((message.buttons || []).some((row) => row.some(tagged))) {
      for (const old of log.querySelectorAll(".choices button[data-step]")) old.disabled = true;
    }
    // The number that can be typed instead of pressing (as the hints say): only on a
    // step's or a menu's buttons, the ones a typed number answers; an officer's alert
    // buttons are not a question, so they get none.
    const typeable = (c) => tagged(c) || ["m", "l"].includes((c.data || "").split("|")[2]);
    const numbered = (message.buttons || []).flat().every(typeable);
    let number = 0;
    for (const row of message.buttons || []) {
      const group = document.createElement("div");
      group.className = "choices";
      for (const choice of row) {
        const button = document.createElement("button");
        button.type = "button";
        if (numbered) {
          const badge = document.createElement("span");
          badge.className = "number"; badge.setAttribute("aria-hidden", "true");
          badge.textContent = String(++number);
          button.append(badge);
        }
        button.append(choice.label);
        if (tagged(choice)) button.dataset.step = "1";
        button.addEventListener("click", () => press(choice));
        group.appendChild(button);
      }
      log.appendChild(group);
    }
    toBottom();
  }

  async function press(choice) {
    bubble(choice.label, true);
    if (choice.request === "location") return locate();
    await api("send", { id: id(), choice: choice.data, lang });
  }

  function locate() {
    if (!navigator.geolocation) { statusLine.textContent = S.no_location; return; }
    navigator.geolocation.getCurrentPosition(
      (p) => api("send", { id: id(), lang,
        location: { lat: p.coords.latitude, lon: p.coords.longitude } }),
      () => { statusLine.textContent = S.no_location; });
  }

  async function poll() {
    for (;;) {
      try {
        polling = new AbortController();
        const response = await fetch("/chat/api/messages?after=" + after,
          { credentials: "same-origin", signal: polling.signal });
        // No session yet, or a new server that has not seen this one solve the
        // challenge: open (and solve) again, then go on from the same place.
        if (response.status === 403 || response.status === 428) { await open(); continue; }
        const data = await response.json();
        for (const message of data.messages) {
          if (message.seq > after) { after = message.seq; show(message); }
        }
        statusLine.textContent = "";
      } catch (e) {
        if (e.name === "AbortError") continue;  // asked again at once, for the new session
        statusLine.textContent = S.connecting;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  document.getElementById("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = text.value;
    if (!value.trim()) return;
    text.value = "";
    bubble(value, true);
    try { await api("send", { id: id(), text: value, lang }); }
    catch (e) { statusLine.textContent = S.error; text.value = value; }
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      document.getElementById("composer").requestSubmit();
    }
  });
  document.getElementById("locate").addEventListener("click", locate);
  document.getElementById("file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    const sent = bubble("📎 " + file.name, true);
    sent.classList.add("pending");
    const form = new FormData();
    form.append("file", file); form.append("id", id());
    statusLine.textContent = S.uploading;
    try {
      await api("upload", form, true);
      sent.classList.remove("pending");
      statusLine.textContent = "";
    } catch (e) {
      // Not sent: say so on the bubble itself, not only in a small grey line.
      sent.classList.replace("pending", "failed");
      sent.textContent = "⚠ " + S.upload_failed + " (" + file.name + ")";
      sent.setAttribute("role", "alert");
      statusLine.textContent = "";
    }
    event.target.value = "";
  });

  open().then(poll);
})();
