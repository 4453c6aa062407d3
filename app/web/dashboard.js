// refserver live dashboard: one pane per family, all live, plus a control strip.
// Plain browser JavaScript (fetch, EventSource, WebSocket, WebCrypto); no build step.
"use strict";

const $ = (s) => document.querySelector(s);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
};
const status = (msg) => { $("#status").textContent = msg; };

let ADMIN = (location.hash.match(/admin=([^&]+)/) || [])[1] || localStorage.getItem("refserverAdmin") || "";
if (ADMIN) localStorage.setItem("refserverAdmin", ADMIN);

async function admin(path, body, method) {
  const r = await fetch(path, {
    method: method || (body === undefined ? "GET" : "POST"),
    headers: { Authorization: "Bearer " + ADMIN, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(path + " → " + r.status + " " + JSON.stringify(data));
  return data;
}

// ---------------------------------------------------------------- connection state, per pane
// live: connected, nothing to replay · reconnecting: the stream was cut · resumed: reconnected
// and replayed from seq N, served from the ring, SQL or both (what the server says).
function conn(id, state, text) {
  const e = document.getElementById(id);
  e.dataset.state = state; e.textContent = text || state;
  window.connLog.push([id, state, e.textContent]);  // every transition, for whoever watches the page
}
window.connLog = [];
const resumedText = (from, source) => `resumed from seq ${from} (${source})`;
// Where a replay from `from` is served: the rule the server follows (ring when `from` is still in
// the stream's ring, SQL before it, "mixed" across), read off GET /_admin/streams/{family}/{stream}.
async function replaySource(family, stream, from) {
  const st = await admin(`/_admin/streams/${family}/${encodeURIComponent(stream)}`);
  if (from > st.head) return "live";
  if (!st.ring.size || st.head < st.ring.first_seq) return "sql";
  return from >= st.ring.first_seq ? "ring" : "mixed";
}
// random hex and UUIDs from getRandomValues (crypto.randomUUID needs a secure context)
const rnd = (n = 8) => hex(crypto.getRandomValues(new Uint8Array(n)));
const uuid = () => { const h = rnd(16); return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${"89ab"[parseInt(h[16], 16) & 3]}${h.slice(17, 20)}-${h.slice(20, 32)}`; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- clock + control strip
async function refreshClock() {
  try {
    const c = await admin("/_admin/clock");
    $("#clock").textContent = c.now.replace("T", " ").replace("Z", "") + (c.frozen ? " (frozen)" : "");
  } catch (e) { /* shown by status */ }
}

function wireControls(cfg) {
  document.querySelectorAll("[data-advance]").forEach((b) =>
    b.addEventListener("click", async () => { await admin("/_admin/clock", { action: "advance", ms: +b.dataset.advance }); refreshClock(); }));
  $("#freeze").onclick = async () => { await admin("/_admin/clock", { action: "freeze" }); refreshClock(); };
  $("#resume").onclick = async () => { await admin("/_admin/clock", { action: "resume" }); refreshClock(); };
  $("#net-down").onclick = () => admin("/_admin/musubi/network", { available: false }).then(() => status("settlement network down"));
  $("#net-up").onclick = () => admin("/_admin/musubi/network", { available: true }).then(() => status("settlement network up"));
  $("#set-price").onclick = () => admin("/_admin/broker/prices", {
    symbol: $("#price-symbol").value, bid: +$("#price-bid").value, ask: +$("#price-ask").value,
  }).then(() => status("price set"), (e) => status(e.message));
  $("#cut-stream").onclick = () => {
    const fam = $("#cut-family").value;
    const stream = { musubi: cfg.musubi && cfg.musubi.party_id, broker: cfg.broker && String(cfg.broker.login),
                     "order-entry": cfg.order_entry && cfg.order_entry.account }[fam];
    if (stream) admin(`/_admin/streams/${fam}/${encodeURIComponent(stream)}/disconnect`, {}).then((r) => status(`cut ${r.disconnected} ${fam} subscriber(s)`));
  };
  const chaosBody = () => {
    const kind = $("#chaos-kind").value;
    const body = { seed: parseInt($("#chaos-seed").value, 10) || 0 };
    if (kind !== "http") body.streams = { disconnect_every_ms: [5000, 15000], gap_every_events: [5, 20], gap_size: [1, 3] };
    if (kind !== "streams") body.http = { error_rate: 0.1, statuses: [500, 502, 503], latency_ms: [0, 200] };
    return body;
  };
  $("#chaos-on").onclick = () => admin("/_admin/chaos", chaosBody()).then(showChaos, (e) => status(e.message));
  $("#chaos-off").onclick = () => admin("/_admin/chaos", undefined, "DELETE").then(showChaos, (e) => status(e.message));
  admin("/_admin/chaos").then(showChaos, () => {});
}
function showChaos(c) {
  const e = $("#chaos-state");
  e.dataset.active = c.active ? "1" : "0";
  e.className = "pill " + (c.active ? "on" : "off");
  e.textContent = c.active ? `chaos on · seed ${c.seed}` : "chaos off";
  if (c.active && c.seed !== undefined) $("#chaos-seed").value = c.seed;
}

// ---------------------------------------------------------------- Musubi
const orders = new Map();
function renderOrder(o) {
  let card = document.getElementById("order-" + o.intent_id);
  if (!card) { card = el("div", { id: "order-" + o.intent_id, class: "card" }); }
  card.dataset.status = o.status;
  card.innerHTML = "";
  card.append(el("b", {}, o.intent_id.slice(0, 8)), " ",
    `${o.target_amount} ${o.target_currency} ← ${o.source_currency}`,
    el("div", { class: "q" }, o.fx_rate ? `rate ${o.fx_rate}` : (o.quotes ? `${o.quotes} quote(s)` : "awaiting quotes")),
    o.failure_reason ? el("div", { class: "q" }, o.failure_reason) : "");
  const col = document.querySelector(`.col[data-status="${o.status}"] .cards`);
  if (col && card.parentElement !== col) col.prepend(card);
}
function upsertOrder(o) { const prev = orders.get(o.intent_id) || {}; const merged = Object.assign(prev, o); orders.set(o.intent_id, merged); renderOrder(merged); }

// An SSE reader on fetch(): unlike EventSource it can send Authorization and Last-Event-ID and read
// the answer's X-Resume-Source. Calls onEvent(name, data, id); resolves when the server ends it.
async function readSse(url, headers, onOpen, onEvent) {
  const r = await fetch(url, { headers: Object.assign({ Accept: "text/event-stream" }, headers) });
  if (!r.ok) { const err = new Error("SSE " + r.status); err.status = r.status; throw err; }
  onOpen(r);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  try { for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
      let name = "message", data = [], id = null;
      for (const line of block.split("\n")) {
        const i = line.indexOf(":"); if (i === 0) continue;
        const f = i < 0 ? line : line.slice(0, i), v = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (f === "event") name = v; else if (f === "data") data.push(v); else if (f === "id") id = v;
      }
      if (data.length) onEvent(name, data.join("\n"), id);
    }
  } } finally { reader.cancel().catch(() => {}); }
}

async function musubiToken(cfg) {
  const t = await fetch("/auth/token", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ client_id: cfg.client_id, client_secret: cfg.client_secret }) }).then((r) => r.json());
  return t.data.token;
}

async function startMusubi(cfg) {
  if (!cfg) { $("#musubi-who").textContent = "no demo participant (seed none)"; conn("musubi-conn", "off", "no stream"); $("#musubi-form").classList.add("hidden"); return; }
  $("#musubi-who").textContent = `as ${cfg.name || cfg.client_id} (${cfg.role})`;
  let token = await musubiToken(cfg);
  const auth = () => ({ Authorization: "Bearer " + token });
  // snapshot + replay: the stream head first, then every order of the list (the snapshot holds at
  // least every event up to that head), then the SSE from Last-Event-ID = head: no gap, no loss
  let lastId = (await admin(`/_admin/streams/musubi/${encodeURIComponent(cfg.party_id)}`)).head;
  for (let page = 1; ; page++) {
    const list = await fetch(`/api/v1/orders?page_size=100&page=${page}&sort_order=asc`, { headers: auth() }).then((r) => r.json());
    for (const o of list.data || []) upsertOrder(o);
    if (!list.pagination || page >= list.pagination.total_pages) break;
  }
  $("#musubi-seq").textContent = String(lastId);
  await musubiForm(cfg, auth);
  let first = true;
  const run = async () => {
    for (;;) {
      const from = lastId;
      try {
        await readSse("/api/v1/orders/events", Object.assign({ "Last-Event-ID": String(from) }, auth()), (r) => {
          const source = r.headers.get("X-Resume-Source") || "live";
          if (first || source === "live") conn("musubi-conn", "live", first ? "live" : `live again from seq ${from + 1}`);
          else conn("musubi-conn", "resumed", resumedText(from + 1, source));
          first = false;
        }, (name, data, id) => {
          // ids are the party stream's seqs, contiguous: a jump is a gap, recovered by resuming
          // from the last id seen (the server replays the missing events first)
          if (id !== null && +id > lastId + 1) throw Object.assign(new Error("gap"), { gap: [lastId + 1, +id - 1] });
          if (id !== null) { lastId = +id; $("#musubi-seq").textContent = id; }
          if (name === "order_updated") upsertOrder(JSON.parse(data));
          else if (name === "quote_received") {
            const q = JSON.parse(data); const o = orders.get(q.intent_id);
            if (o) { o.quotes = (o.quotes || 0) + 1; renderOrder(o); }
          }
        });
      } catch (e) {
        if (e.status === 401) token = await musubiToken(cfg).catch(() => token);
        if (e.gap) { status(`musubi: gap ${e.gap[0]}–${e.gap[1]}, resuming`); continue; }
      }
      conn("musubi-conn", "reconnecting", `reconnecting from seq ${lastId + 1}…`);
      await sleep(500);
    }
  };
  run();
}

// The create form: the demo sender institution proposes an order to parties the control API lists.
async function musubiForm(cfg, auth) {
  const parts = (await admin("/_admin/musubi/participants")).participants || [];
  const fill = (sel, role, not) => {
    for (const p of parts) if (p.role === role && p.party_id !== not && !p.simulated) $(sel).append(el("option", { value: p.party_id }, p.name));
  };
  fill("#m-custodian", "custodian"); fill("#m-receiver", "institution", cfg.party_id); fill("#m-receiver-custodian", "custodian");
  if ($("#m-receiver-custodian").options.length > 1) $("#m-receiver-custodian").selectedIndex = 1;
  $("#musubi-form").onsubmit = async (e) => {
    e.preventDefault();
    const body = {
      sender_custodian_party_id: $("#m-custodian").value, intent_signature: "3045022100" + rnd(),
      receiver_party_id: $("#m-receiver").value, receiver_custodian_party_id: $("#m-receiver-custodian").value,
      source_contract_id: rnd() + "#0", source_currency: $("#m-source").value, target_amount: $("#m-amount").value,
      target_currency: $("#m-target").value, source_amount_max: $("#m-max").value, kyc_aml_ref: uuid(),
      jurisdiction_sender: "JP", jurisdiction_receiver: "US", memo: "from the dashboard",
    };
    const r = await fetch("/api/v1/orders", { method: "POST", body: JSON.stringify(body),
      headers: Object.assign({ "Content-Type": "application/json", "Idempotency-Key": uuid() }, auth()) });
    const out = await r.json();
    if (r.status === 201) { upsertOrder(out.data); status("order " + out.data.intent_id + " created"); }
    else status("create refused: " + (out.error ? out.error.code + " " + out.error.message + " " + JSON.stringify(out.error.details || []) : r.status));
  };
}

// ---------------------------------------------------------------- Broker
function table(res) {
  const cols = res.structure || [];
  return (res.rows || []).map((r) => Object.fromEntries(cols.map((c, i) => [c, r[i]])));
}
async function startBroker(cfg) {
  if (!cfg) { $("#broker-who").textContent = "no demo login (seed none)"; return; }
  const signIn = async () => (await fetch("/sign/in", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ login: cfg.login, password: cfg.password }) }).then((r) => r.json())).__token;
  let token = await signIn();
  $("#broker-who").textContent = `login ${cfg.login}`;
  const auth = { "Content-Type": "application/json" };
  Object.defineProperty(auth, "Authorization", { enumerable: true, get: () => token });
  const list = await fetch("/market/short/list", { headers: auth }).then((r) => r.json());
  const symbols = table(list.assets).map((a) => a.symbol);
  const tbody = $("#watch tbody");
  for (const s of symbols) {
    tbody.append(el("tr", { id: "watch-" + s }, el("td", {}, s), el("td", { class: "bid" }, "–"), el("td", { class: "ask" }, "–"), el("td", { class: "time" }, "")));
    $("#ticket-symbol").append(el("option", {}, s));
    $("#price-symbol").append(el("option", {}, s));
  }
  const refresh = async () => {
    const pos = table(await fetch("/trades?tradeType=1", { headers: auth }).then((r) => r.json()));
    const body = $("#positions tbody"); body.innerHTML = "";
    for (const p of pos) {
      const close = el("button", {}, "close");
      close.onclick = () => fetch("/trade/close", { method: "DELETE", headers: auth, body: JSON.stringify({ order: p.order }) }).then(refresh);
      body.append(el("tr", { "data-order": p.order }, el("td", {}, String(p.order)), el("td", {}, p.symbol), el("td", {}, p.cmd === 0 ? "BUY" : "SELL"),
        el("td", {}, String(p.volume)), el("td", {}, String(p.open_price)), el("td", { class: "profit" }, String(p.profit)), el("td", {}, close)));
    }
    const bal = table(await fetch("/account/balance", { headers: auth }).then((r) => r.json()))[0] || {};
    $("#balance").textContent = bal.balance; $("#equity").textContent = bal.equity; $("#profit").textContent = bal.profit;
  };
  let pending = null;
  const refreshSoon = () => { if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 250); };
  const trade = (cmd) => fetch("/trade/open", { method: "POST", headers: auth,
    body: JSON.stringify({ cmd, volume: +$("#ticket-volume").value, symbol: $("#ticket-symbol").value }) })
    .then((r) => r.json()).then((r) => { status(r.error ? r.error + ": " + r.message : "trade " + r.id + " opened"); refresh(); });
  $("#buy").onclick = () => trade(0);
  $("#sell").onclick = () => trade(1);
  await refresh();
  // account frames (b/o/a/n) are one seq each, in order: count them from the authorization's head
  // (or from last_seq on a resume) to know where to resume after a cut
  let seq = null, resumeSource = null;
  const connect = async () => {
    const resumeFrom = seq;
    if (resumeFrom !== null) resumeSource = await replaySource("broker", String(cfg.login), resumeFrom + 1).catch(() => "?");
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.onopen = () => ws.send(JSON.stringify(resumeFrom === null ? { authorization: token } : { authorization: token, last_seq: resumeFrom }));
    ws.onmessage = (m) => {
      if (m.data === "pong") return;
      const msg = JSON.parse(m.data);
      if (msg.event === "authorization" && !msg.success) { signIn().then((t) => { token = t; }, () => {}); return; }
      if (msg.event === "authorization" && msg.success) {
        ws.send(JSON.stringify({ event: "subscribe", data: symbols }));
        if (resumeFrom === null || resumeFrom >= msg.seq) { seq = msg.seq; conn("broker-conn", "live", resumeFrom === null ? "live" : `live again from seq ${msg.seq + 1}`); }
        else { seq = resumeFrom; conn("broker-conn", "resumed", resumedText(resumeFrom + 1, resumeSource)); }
      }
      if (!Array.isArray(msg)) return;
      if (msg[0] !== "t" && seq !== null) seq += 1;
      if (msg[0] === "t") {
        const row = document.getElementById("watch-" + msg[1]);
        if (row) {
          const old = +row.querySelector(".bid").textContent;
          row.querySelector(".bid").textContent = msg[2]; row.querySelector(".ask").textContent = msg[3];
          row.querySelector(".bid").className = "bid " + (msg[2] >= old ? "up" : "down");
          row.querySelector(".time").textContent = new Date(msg[4] * 1000).toISOString().slice(11, 19);
        }
        if ($("#positions tbody").children.length) refreshSoon();
      } else if (msg[0] === "b") {
        $("#balance").textContent = msg[2]; $("#equity").textContent = msg[6]; $("#profit").textContent = msg[9];
      } else if (msg[0] === "o") {
        refreshSoon();
      }
    };
    ws.onclose = () => { conn("broker-conn", "reconnecting", seq === null ? "reconnecting…" : `reconnecting from seq ${seq + 1}…`); setTimeout(connect, 500); };
  };
  connect();
}

// ---------------------------------------------------------------- Order Entry
const hex = (buf) => Array.from(new Uint8Array(buf)).map((b) => b.toString(16).padStart(2, "0")).join("");
// SHA-256 and HMAC with WebCrypto; a page served over plain http to another host is not a secure
// context and has no crypto.subtle, so the same two functions are also written out here
const K256 = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
function sha256Plain(data) {
  const len = data.length, padded = new Uint8Array(((len + 72) >> 6) << 6);
  padded.set(data); padded[len] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(len / 0x20000000)); view.setUint32(padded.length - 4, (len << 3) >>> 0);
  const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const W = new Uint32Array(64), rot = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) W[i] = view.getUint32(off + 4 * i);
    for (let i = 16; i < 64; i++) {
      const s0 = rot(W[i - 15], 7) ^ rot(W[i - 15], 18) ^ (W[i - 15] >>> 3), s1 = rot(W[i - 2], 17) ^ rot(W[i - 2], 19) ^ (W[i - 2] >>> 10);
      W[i] = W[i - 16] + s0 + W[i - 7] + s1;
    }
    let [a, b, c, d, e, f, g, h] = H;
    for (let i = 0; i < 64; i++) {
      const t1 = (h + (rot(e, 6) ^ rot(e, 11) ^ rot(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + W[i]) >>> 0;
      const t2 = ((rot(a, 2) ^ rot(a, 13) ^ rot(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      h = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
  }
  const out = new DataView(new ArrayBuffer(32));
  H.forEach((x, i) => out.setUint32(4 * i, x));
  return out.buffer;
}
const sha256 = async (data) => (crypto.subtle ? crypto.subtle.digest("SHA-256", data) : sha256Plain(data));
async function hmacSha256(secret, data) {
  if (crypto.subtle) {
    const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return crypto.subtle.sign("HMAC", key, data);
  }
  let k = secret.length > 64 ? new Uint8Array(sha256Plain(secret)) : secret;
  const pad = (x) => { const b = new Uint8Array(64); b.set(k); return b.map((v) => v ^ x); };
  const inner = new Uint8Array(64 + data.length); inner.set(pad(0x36)); inner.set(data, 64);
  const outer = new Uint8Array(96); outer.set(pad(0x5c)); outer.set(new Uint8Array(sha256Plain(inner)), 64);
  return sha256Plain(outer);
}
let lastNonce = 0;
async function signed(cfg, method, url, body) {
  const u = new URL(url, location.origin);
  const raw = body === undefined ? "" : JSON.stringify(body);
  const enc = new TextEncoder();
  const nonce = Math.max(Date.now(), lastNonce + 1); lastNonce = nonce;
  const ts = Date.now();
  const query = u.search ? u.search.slice(1).split("&").sort().join("&") : "";
  const bodyHash = hex(await sha256(enc.encode(raw)));
  const canonical = ["SENTICORE-HMAC-V2", "sc-key:" + cfg.apiKeyId, "sc-nonce:" + nonce, "sc-timestamp:" + ts,
    "method:" + method, "path:" + u.pathname, "query:" + query, "body-sha256:" + bodyHash].join("\n");
  const sig = hex(await hmacSha256(enc.encode(cfg.apiSecret), enc.encode(canonical)));
  const r = await fetch(u.pathname + u.search, { method, body: raw || undefined, headers: {
    "SC-Auth-Version": "2", "SC-Key": cfg.apiKeyId, "SC-Nonce": String(nonce), "SC-Timestamp": String(ts),
    "SC-Passphrase": cfg.apiPassphrase, "SC-Signature": sig, "Content-Type": "application/json" } });
  return r.json();
}
async function startOrderEntry(cfg) {
  if (!cfg) { $("#oe-who").textContent = "no demo agent (seed none)"; return; }
  $("#oe-who").textContent = "account " + cfg.account.slice(0, 10) + "…";
  const markets = (await signed(cfg, "GET", "/api/v1/order-entry/markets")).markets || [];
  for (const m of markets) $("#oe-market").append(el("option", { value: m.market }, m.symbol));
  const base = `/api/v1/order-entry/accounts/${cfg.account}`;
  const refreshOpen = async () => {
    const snap = await signed(cfg, "GET", base + "/open-orders");
    const body = $("#open-orders tbody"); body.innerHTML = "";
    for (const o of snap.orders || []) body.append(el("tr", {}, el("td", {}, String(o.orderId)), el("td", {}, String(o.market)), el("td", {}, o.side), el("td", {}, String(o.price)), el("td", {}, String(o.leavesQty))));
    return snap.seq;
  };
  const refreshBook = async () => {
    const m = $("#oe-market").value; if (!m) return;
    try {
      const book = await admin(`/_admin/order-entry/markets/${encodeURIComponent(m)}/book`);
      const body = $("#book tbody"); body.innerHTML = "";
      const n = Math.max(book.bids.length, book.asks.length);
      for (let i = 0; i < Math.min(n, 8); i++) {
        const b = book.bids[i] || ["", ""], a = book.asks[i] || ["", ""];
        body.append(el("tr", {}, el("td", {}, String(b[1])), el("td", { class: "up" }, String(b[0])), el("td", { class: "down" }, String(a[0])), el("td", {}, String(a[1]))));
      }
    } catch (e) { /* no book view */ }
  };
  await refreshOpen();
  setInterval(refreshBook, 1000); refreshBook();
  const tape = (ev) => {
    const d = ev.data || ev;
    $("#tape tbody").prepend(el("tr", { "data-seq": String(ev.seq) }, el("td", {}, String(ev.seq)), el("td", {}, d.status), el("td", {}, `${d.side || ""} ${d.orderId ?? "–"}`),
      el("td", {}, String(d.filledQty)), el("td", {}, String(d.fillPrice ?? "")), el("td", {}, String(d.leavesQty))));
    while ($("#tape tbody").children.length > 30) $("#tape tbody").lastChild.remove();
  };
  // snapshot + replay, as the seeds start a client: REST gap-fill from seq 1 (the history), then
  // the private WebSocket from the next seq
  let lastSeq = 0;
  for (;;) {
    const page = await signed(cfg, "GET", `${base}/executions?fromSeq=${lastSeq + 1}&limit=1000`);
    for (const ev of page.events || []) { if (ev.seq > lastSeq) { lastSeq = ev.seq; tape(ev); } }
    if (!page.hasMore) break;
  }
  await orderEntryForm(cfg, markets);
  // a frame whose prevSeq is past the last seq seen: the missing seqs come from the REST gap-fill
  // (frames arriving meanwhile wait in order behind it)
  let filling = Promise.resolve();
  const gapFill = (msg) => (filling = filling.then(async () => {
    if (msg.seq <= lastSeq) return;
    const from = lastSeq + 1;
    let source = null;
    while (lastSeq < msg.prevSeq) {
      const page = await signed(cfg, "GET", `${base}/executions?fromSeq=${lastSeq + 1}&limit=${Math.min(1000, msg.prevSeq - lastSeq)}`);
      if (!(page.events || []).length) break;
      source = source && source !== page.source ? "mixed" : page.source;
      for (const ev of page.events) if (ev.seq > lastSeq && ev.seq < msg.seq) { lastSeq = ev.seq; tape(ev); }
    }
    conn("oe-conn", "live", `live · gap ${from}–${msg.prevSeq} filled (${source})`);
    if (msg.seq > lastSeq) { lastSeq = msg.seq; tape(msg); }
  }));
  let openSoon = null, first = true;
  const connect = async () => {
    const from = lastSeq + 1;
    let text = "live";
    if (!first) {
      const source = await replaySource("order-entry", cfg.account, from).catch(() => "?");
      text = source === "live" ? `live again from seq ${from}` : resumedText(from, source);
    }
    const tok = await signed(cfg, "POST", "/api/v1/ws/token", {});
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws/private/${cfg.account}?token=${encodeURIComponent(tok.token)}&fromSeq=${from}`);
    ws.onopen = () => { conn("oe-conn", text.startsWith("resumed") ? "resumed" : "live", text); first = false; };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.op === "ping") { ws.send(JSON.stringify({ op: "pong", ts: msg.ts })); return; }
      if (msg.channel !== "executions" || msg.seq <= lastSeq) return;
      if (msg.prevSeq > lastSeq) { gapFill(msg).catch((e) => status("gap-fill: " + e.message)); return; }
      lastSeq = msg.seq; tape(msg);
      if (!openSoon) openSoon = setTimeout(() => { openSoon = null; refreshOpen(); }, 300);
    };
    ws.onclose = () => { conn("oe-conn", "reconnecting", `reconnecting from seq ${lastSeq + 1}…`); setTimeout(() => connect().catch(() => setTimeout(connect, 1000)), 500); };
  };
  await connect();
}

// The order ticket: demo trader A places a SpotPlaceOrder on the selected market, HMAC-signed here.
async function orderEntryForm(cfg, markets) {
  const boot = await signed(cfg, "GET", `/api/v1/accounts/${cfg.account}/bootstrap`);
  let payloadNonce = Math.max(boot.nonceFloor || 0, Date.now());
  const byId = new Map(markets.map((m) => [String(m.market), m]));
  const defaults = () => {
    const m = byId.get($("#oe-market").value); if (!m) return;
    $("#oe-qty").value = String(m.minQty);
    const bestBid = $("#book tbody tr:first-child td.up");
    $("#oe-price").value = bestBid && bestBid.textContent ? bestBid.textContent : "1";
  };
  $("#oe-market").addEventListener("change", defaults); setTimeout(defaults, 1200);
  $("#oe-form").onsubmit = async (e) => {
    e.preventDefault();
    payloadNonce = Math.max(payloadNonce + 1, Date.now());
    const action = { SpotPlaceOrder: { market: +$("#oe-market").value, side: $("#oe-side").value, price: +$("#oe-price").value,
      qty: +$("#oe-qty").value, timeInForce: $("#oe-tif").value, clientOrderId: "dash-" + payloadNonce } };
    const body = { version: 1, idempotencyKey: uuid(), actions: [{
      payload: { account: cfg.account, nonce: payloadNonce, ts: Date.now(), action },
      signature: { scheme: "EcdsaSecp256k1", bytes: "0x" + "ab".repeat(65) } }] };
    const out = await signed(cfg, "POST", "/api/v1/order-entry/orders", body);
    const res = (out.results || [])[0];
    status(res ? (res.accepted ? `order ${res.orderId} accepted` : `order refused: ${res.rejectCode}`) : "batch refused: " + JSON.stringify(out.error || out));
  };
}

// ---------------------------------------------------------------- FIX drop-copy sessions
async function startFixPane() {
  // the FIX listener may be absent from this build: ask the served OpenAPI before polling
  const spec = await fetch("/openapi.json").then((r) => r.json());
  if (!(spec.paths || {})["/_admin/fix/sessions"]) { $("#fix-sessions").closest("div").classList.add("hidden"); return; }
  const refresh = async () => {
    const out = await admin("/_admin/fix/sessions");
    const body = $("#fix-sessions tbody"); body.innerHTML = "";
    for (const s of out.sessions || []) body.append(el("tr", {}, el("td", {}, s.senderCompId), el("td", {}, s.account.slice(0, 10) + "…"),
      el("td", { class: s.connected ? "up" : "muted" }, s.connected ? "yes" : "no"), el("td", {}, String(s.nextOutSeq)),
      el("td", {}, String(s.nextInSeq)), el("td", {}, String(s.lastAccountSeq))));
  };
  setInterval(() => refresh().catch(() => {}), 1000); await refresh();
}

// ---------------------------------------------------------------- client coverage (§7.1)
async function startCoverage() {
  const refresh = async () => {
    const cov = await admin("/_admin/coverage");
    $("#coverage-total").textContent = `${cov.met} of ${cov.of} met`;
    $("#coverage-callers").textContent = (cov.callers || []).join(", ") || "none yet";
    const body = $("#coverage-families tbody"); body.innerHTML = "";
    for (const [name, f] of Object.entries(cov.families || {})) {
      const rec = Object.entries(f.recovery || {}).filter(([, r]) => r.met).map(([k]) => k);
      body.append(el("tr", { "data-family": name }, el("td", {}, name), el("td", { class: "met" }, String(f.met)), el("td", { class: "of" }, String(f.of)),
        el("td", {}, f.of ? (100 * f.met / f.of).toFixed(1) : "–"), el("td", { class: "recovery" }, rec.join(", ") || "none"),
        el("td", {}, (f.missing || []).slice(0, 4).join(" · ") + ((f.missing || []).length > 4 ? " …" : ""))));
    }
  };
  setInterval(() => refresh().catch(() => {}), 2000); await refresh();
}

// ---------------------------------------------------------------- start
async function main() {
  if (!ADMIN) { $("#admin-form").classList.remove("hidden"); status("paste the admin token printed at start"); }
  $("#admin-form").onsubmit = (e) => { e.preventDefault(); ADMIN = $("#admin-token").value.trim(); localStorage.setItem("refserverAdmin", ADMIN); location.reload(); };
  if (!ADMIN) return;
  let cfg;
  try { cfg = await admin("/_admin/dashboard"); } catch (e) { status(e.message); $("#admin-form").classList.remove("hidden"); return; }
  wireControls(cfg);
  refreshClock(); setInterval(refreshClock, 1000);
  const run = (name, fn, c) => fn(c).catch((e) => { console.warn(name, e); status(name + ": " + e.message); });
  await Promise.all([run("musubi", startMusubi, cfg.musubi), run("broker", startBroker, cfg.broker), run("order-entry", startOrderEntry, cfg.order_entry),
    run("fix", startFixPane), run("coverage", startCoverage)]);
  document.body.dataset.ready = "1";
}
main();
