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

  // Why a request did not go through: `retry` when the network or the server was
  // briefly away (the item stays queued and is sent again with the same request id,
  // which the server takes once); otherwise the server refused it for good.
  class SendError extends Error {
    constructor(status, retry) { super(String(status)); this.status = status; this.retry = retry; }
  }

  // One request, over XMLHttpRequest rather than fetch because only it reports upload
  // progress. Resolves with the parsed answer; rejects with a SendError.
  function request(path, body, isForm, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/chat/api/" + path);
      xhr.withCredentials = true;
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      if (!isForm) xhr.setRequestHeader("Content-Type", "application/json");
      if (onProgress) {
        xhr.upload.addEventListener("progress", (e) => {
          if (e.lengthComputable) onProgress(e.loaded / e.total);
        });
      }
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          try { resolve(JSON.parse(xhr.responseText)); }
          catch (e) { reject(new SendError(xhr.status, true)); }
        } else {
          reject(new SendError(xhr.status, xhr.status === 428 || xhr.status === 429 ||
            xhr.status === 408 || xhr.status >= 500));
        }
      });
      xhr.addEventListener("error", () => reject(new SendError(0, true)));
      xhr.addEventListener("timeout", () => reject(new SendError(0, true)));
      xhr.send(isForm ? body : JSON.stringify(body));
    });
  }

  async function api(path, body, isForm, onProgress) {
    let data;
    try {
      data = await request(path, body, isForm, onProgress);
    } catch (e) {
      if (e.status !== 428) throw e;
      await open();  // a server that has not seen this session solve the challenge
      data = await request(path, body, isForm, onProgress);
    }
    if (data.csrf) {  // a new session (after /join): its token, and its mailbox now
      csrf = data.csrf;
      if (polling) polling.abort();
    }
    return data;
  }

  // What the citizen sent and the server has not yet taken, in the order it was sent:
  // a dropped connection loses nothing and reorders nothing. Kept in this page's
  // memory only (never in the browser's storage, which a shared phone would keep).
  const outgoing = [];
  let flushing = false;
  let wake = null;
  const online = () => new Promise((resolve) => {
    wake = resolve;
    setTimeout(resolve, 3000);
  });
  window.addEventListener("online", () => { if (wake) wake(); });

  function queue(item) {
    outgoing.push(item);
    flush();
  }

  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      while (outgoing.length) {
        const item = outgoing[0];
        try {
          await api(item.path, item.body(), item.isForm, item.progress);
          outgoing.shift();
          item.sent();
          if (!outgoing.length) statusLine.textContent = "";
        } catch (e) {
          if (e.retry) {
            for (const waiting of outgoing) waiting.waiting();
            statusLine.textContent = S.queued;
            await online();
          } else {
            outgoing.shift();
            item.failed();
            statusLine.textContent = "";
          }
        }
      }
    } finally {
      flushing = false;
    }
  }

  // A message bubble that says whether it has reached the server yet.
  function sending(bubbleDiv) {
    bubbleDiv.classList.add("pending");
    let note = null;
    return {
      waiting() {
        if (note) return;
        bubbleDiv.classList.add("waiting");
        note = document.createElement("span");
        note.className = "queued"; note.textContent = S.queued;
        bubbleDiv.appendChild(note);
      },
      sent() {
        bubbleDiv.classList.remove("pending", "waiting");
        if (note) { note.remove(); note = null; }
      },
    };
  }

  function sendJSON(payload, bubbleDiv) {
    const body = { id: id(), lang, ...payload };  // one id for every retry of it
    const mark = bubbleDiv ? sending(bubbleDiv) : { waiting() {}, sent() {} };
    queue({
      path: "send", isForm: false, body: () => body,
      waiting: mark.waiting, sent: mark.sent,
      failed() {
        statusLine.textContent = S.error;
        if (bubbleDiv) bubbleDiv.classList.replace("pending", "failed");
      },
    });
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
    if (!response.ok) throw new SendError(response.status, true);
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
    if (message.file && /^\/chat\/api\/(file|chart)\/[0-9a-f]{32}$/.test(message.file.url)) {
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
          badge.textContent = String(choice.n || ++number);
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

  function press(choice) {
    const mine = bubble(choice.label, true);
    if (choice.request === "location") return locate();
    sendJSON({ choice: choice.data }, mine);
  }

  function locate() {
    if (!navigator.geolocation) { statusLine.textContent = S.no_location; return; }
    navigator.geolocation.getCurrentPosition(
      (p) => sendJSON({ location: { lat: p.coords.latitude, lon: p.coords.longitude } }),
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

  document.getElementById("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = text.value;
    if (!value.trim()) return;
    text.value = "";
    sendJSON({ text: value }, bubble(value, true));
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      document.getElementById("composer").requestSubmit();
    }
  });
  document.getElementById("locate").addEventListener("click", locate);
  document.getElementById("file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (!file) return;
    const sent = bubble("📎 " + file.name, true);
    const bar = document.createElement("progress");
    bar.max = 1; bar.value = 0; bar.setAttribute("aria-label", S.uploading + " " + file.name);
    sent.appendChild(document.createElement("br"));
    sent.appendChild(bar);
    const mark = sending(sent);
    const requestId = id();
    queue({
      path: "upload", isForm: true,
      body() {  // a fresh form for each try; the same request id in every one
        const form = new FormData();
        form.append("file", file); form.append("id", requestId);
        return form;
      },
      progress(share) { bar.value = share; },
      waiting: mark.waiting,
      sent() { mark.sent(); bar.remove(); },
      failed() {
        // Not sent: say so on the bubble itself, not only in a small grey line.
        sent.classList.remove("pending", "waiting");
        sent.classList.add("failed");
        sent.textContent = "⚠ " + S.upload_failed + " (" + file.name + ")";
        sent.setAttribute("role", "alert");
      },
    });
  });

  // The first session: if the server cannot be reached yet, the poll loop keeps trying.
  open().catch(() => { statusLine.textContent = S.connecting; }).then(poll);
})();
