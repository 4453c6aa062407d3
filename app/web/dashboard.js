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

async function startMusubi(cfg) {
  if (!cfg) { $("#musubi-who").textContent = "no demo participant (seed none)"; return; }
  $("#musubi-who").textContent = `as ${cfg.name || cfg.client_id} (${cfg.role})`;
  let es = null;
  const connect = async () => {
    const t = await fetch("/auth/token", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ client_id: cfg.client_id, client_secret: cfg.client_secret }) }).then((r) => r.json());
    const token = t.data.token;
    const list = await fetch("/api/v1/orders?page_size=100", { headers: { Authorization: "Bearer " + token } }).then((r) => r.json());
    for (const o of (list.data || []).reverse()) upsertOrder(o);
    es = new EventSource("/api/v1/orders/events?access_token=" + encodeURIComponent(token));
    es.addEventListener("order_updated", (e) => { upsertOrder(JSON.parse(e.data)); $("#musubi-seq").textContent = e.lastEventId; });
    es.addEventListener("quote_received", (e) => {
      const q = JSON.parse(e.data); const o = orders.get(q.intent_id);
      if (o) { o.quotes = (o.quotes || 0) + 1; renderOrder(o); }
      $("#musubi-seq").textContent = e.lastEventId;
    });
    es.onerror = () => { if (es.readyState === EventSource.CLOSED) setTimeout(connect, 1000); };
  };
  await connect();
}

// ---------------------------------------------------------------- Broker
function table(res) {
  const cols = res.structure || [];
  return (res.rows || []).map((r) => Object.fromEntries(cols.map((c, i) => [c, r[i]])));
}
async function startBroker(cfg) {
  if (!cfg) { $("#broker-who").textContent = "no demo login (seed none)"; return; }
  const profile = await fetch("/sign/in", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ login: cfg.login, password: cfg.password }) }).then((r) => r.json());
  const token = profile.__token;
  $("#broker-who").textContent = `login ${cfg.login}`;
  const auth = { Authorization: token, "Content-Type": "application/json" };
  const list = await fetch("/market/short/list", { headers: auth }).then((r) => r.json());
  const symbols = table(list.assets).map((a) => a.symbol).slice(0, 8);
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
  const connect = () => {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.onopen = () => ws.send(JSON.stringify({ authorization: token }));
    ws.onmessage = (m) => {
      if (m.data === "pong") return;
      const msg = JSON.parse(m.data);
      if (msg.event === "authorization" && msg.success) ws.send(JSON.stringify({ event: "subscribe", data: symbols }));
      if (!Array.isArray(msg)) return;
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
    ws.onclose = () => setTimeout(connect, 1000);
  };
  connect();
}

// ---------------------------------------------------------------- Order Entry
const hex = (buf) => Array.from(new Uint8Array(buf)).map((b) => b.toString(16).padStart(2, "0")).join("");
let lastNonce = 0;
async function signed(cfg, method, url, body) {
  const u = new URL(url, location.origin);
  const raw = body === undefined ? "" : JSON.stringify(body);
  const enc = new TextEncoder();
  const nonce = Math.max(Date.now(), lastNonce + 1); lastNonce = nonce;
  const ts = Date.now();
  const query = u.search ? u.search.slice(1).split("&").sort().join("&") : "";
  const bodyHash = hex(await crypto.subtle.digest("SHA-256", enc.encode(raw)));
  const canonical = ["SENTICORE-HMAC-V2", "sc-key:" + cfg.apiKeyId, "sc-nonce:" + nonce, "sc-timestamp:" + ts,
    "method:" + method, "path:" + u.pathname, "query:" + query, "body-sha256:" + bodyHash].join("\n");
  const key = await crypto.subtle.importKey("raw", enc.encode(cfg.apiSecret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const sig = hex(await crypto.subtle.sign("HMAC", key, enc.encode(canonical)));
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
  let lastSeq = await refreshOpen();
  setInterval(refreshBook, 1000); refreshBook();
  const tape = (ev) => {
    const d = ev.data;
    $("#tape tbody").prepend(el("tr", {}, el("td", {}, String(ev.seq)), el("td", {}, d.status), el("td", {}, String(d.orderId)),
      el("td", {}, String(d.filledQty)), el("td", {}, String(d.fillPrice ?? "")), el("td", {}, String(d.leavesQty))));
    while ($("#tape tbody").children.length > 30) $("#tape tbody").lastChild.remove();
  };
  let openSoon = null;
  const connect = async () => {
    const tok = await signed(cfg, "POST", "/api/v1/ws/token", {});
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws/private/${cfg.account}?token=${encodeURIComponent(tok.token)}&fromSeq=${lastSeq + 1}`);
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.op === "ping") { ws.send(JSON.stringify({ op: "pong", ts: msg.ts })); return; }
      if (msg.channel !== "executions" || msg.seq <= lastSeq) return;
      lastSeq = msg.seq; tape(msg);
      if (!openSoon) openSoon = setTimeout(() => { openSoon = null; refreshOpen(); }, 300);
    };
    ws.onclose = () => setTimeout(connect, 1000);
  };
  connect();
}

// ---------------------------------------------------------------- FIX drop-copy sessions
async function startFixPane() {
  const refresh = async () => {
    const out = await admin("/_admin/fix/sessions");
    const body = $("#fix-sessions tbody"); body.innerHTML = "";
    for (const s of out.sessions || []) body.append(el("tr", {}, el("td", {}, s.senderCompId), el("td", {}, s.account.slice(0, 10) + "…"),
      el("td", { class: s.connected ? "up" : "muted" }, s.connected ? "yes" : "no"), el("td", {}, String(s.nextOutSeq)),
      el("td", {}, String(s.nextInSeq)), el("td", {}, String(s.lastAccountSeq))));
  };
  setInterval(() => refresh().catch(() => {}), 1000); await refresh();
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
  await Promise.all([run("musubi", startMusubi, cfg.musubi), run("broker", startBroker, cfg.broker), run("order-entry", startOrderEntry, cfg.order_entry), run("fix", startFixPane)]);
  document.body.dataset.ready = "1";
}
main();
