/* Kiro2API dashboard: pool rows and traffic charts, kept live by /api/events (server-sent events).
 * Everything is built with DOM calls and textContent (never innerHTML with data). Actions send the
 * session's CSRF token in X-CSRF-Token. */
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var meta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = meta ? meta.getAttribute("content") : "";
  var initial = JSON.parse($("initial-data").textContent);
  var state = {
    pool: initial.pool,
    traffic: initial.traffic,
    skewMs: initial.server_time * 1000 - Date.now(),
    view: "pool",
  };
  var rows = {}; // credential id -> {tr, cells...}

  function now() { return (Date.now() + state.skewMs) / 1000; }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function duration(s) {
    s = Math.max(0, Math.round(s));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + String(m).padStart(2, "0") + "m";
    if (m) return m + "m " + String(r).padStart(2, "0") + "s";
    return r + "s";
  }

  function num(v, digits) {
    if (v == null) return "–";
    if (digits != null) return Number(v).toFixed(digits);
    return KiroCharts.format(Number(v));
  }

  function ms(v) { return v == null ? "–" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : Math.round(v) + " ms"; }

  function day(epoch) {
    if (!epoch) return null;
    return new Date(epoch * 1000).toISOString().slice(0, 10);
  }

  /* ------------------------------------------------------------------ toasts and actions */
  var toastTimer = null;
  function toast(text, bad) {
    var t = $("toast");
    t.textContent = text;
    t.className = "toast" + (bad ? " bad" : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.className = "toast hidden"; }, 4000);
  }

  function act(id, action, body) {
    return fetch("/api/credentials/" + encodeURIComponent(id) + "/" + action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": CSRF },
      body: JSON.stringify(body || {}),
    }).then(function (resp) {
      if (resp.status === 401) { location.reload(); return; }
      return resp.json().catch(function () { return {}; }).then(function (data) {
        var msg = (data && (data.message || (data.error && data.error.message))) || "";
        if (resp.ok && data.ok !== false) toast(action + " " + id + ": done" + (msg ? " — " + msg : ""));
        else toast(action + " " + id + " failed" + (msg ? ": " + msg : " (" + resp.status + ")"), true);
      });
    }).catch(function () { toast(action + " " + id + ": network error", true); });
  }

  function confirmDelete(id) {
    var dialog = $("confirm-dialog");
    $("confirm-text").textContent = "Delete credential " + id + "? The account leaves the pool; " +
      "add it again from the accounts page if you need it back.";
    dialog.returnValue = "";
    dialog.onclose = function () { if (dialog.returnValue === "ok") act(id, "delete"); };
    dialog.showModal();
  }

  /* ------------------------------------------------------------------ pool view */
  function card(label, value, sub, id) {
    var c = el("div", "card");
    if (id) c.id = id;
    c.appendChild(el("div", "label", label));
    c.appendChild(el("div", "value", value));
    if (sub) c.appendChild(el("div", "sub", sub));
    return c;
  }

  // Last-hour counts: every request (also those no credential served) and, per credential, its share.
  function hourTotals() {
    var lh = (state.pool && state.pool.last_hour) || {};
    var table = state.traffic && state.traffic.credentials ? state.traffic.credentials : lh;
    if (state.traffic && state.traffic.totals) {
      return { requests: state.traffic.totals.requests, errors: state.traffic.totals.errors, table: table };
    }
    var r = 0, e = 0;
    Object.keys(table).forEach(function (k) { r += table[k].requests; e += table[k].errors; });
    return { requests: r, errors: e, table: table };
  }

  function renderPoolCards(p) {
    var cards = $("pool-cards");
    cards.textContent = "";
    var h = hourTotals();
    cards.appendChild(card("Credentials", p ? String(p.total) : "–", null, "card-total"));
    cards.appendChild(card("Active", p ? String(p.active) : "–", null, "card-active"));
    cards.appendChild(card("In flight", p ? String(p.in_flight) : "–", null, "card-inflight"));
    cards.appendChild(card("Requests, last hour", String(h.requests), null, "card-requests"));
    cards.appendChild(card("Errors, last hour", String(h.errors),
      h.requests ? ((100 * h.errors) / h.requests).toFixed(1) + " %" : null, "card-errors"));
  }

  // The display cells of a pool row, in order: [cell, parts], each part [name, tag, class] or
  // [name, "bar"] (a progress bar); makeRow keeps every part as r[name] for updateRow.
  var ROW_CELLS = [
    ["cred", [["idText", "span", "cred-id"], ["kind", "span", "kind"],
              ["credSub", "div", "muted small mono"]]],
    ["status", [["badge", "span", "badge status-badge"], ["reason", "div", "muted small status-reason"]]],
    ["inflight", [["inflightText", "span", "inflight-text"], ["inflightBar", "bar"]]],
    ["token", [["expiry", "div", "expiry"], ["fp", "div", "muted small mono"]]],
    ["credits", [["creditsText", "div", "credits-text"], ["creditsBar", "bar"],
                 ["creditsSub", "div", "muted small"]]],
    ["hour", [["hourText", "div", "hour-text"], ["hourSub", "div", "muted small"]]],
    ["lasterr", [["lastErr", "div", "err-text"]]],
  ];

  function makeRow(id) {
    var tr = el("tr");
    tr.dataset.id = id;
    var r = { tr: tr };
    function td(name) { var c = el("td", "col-" + name); tr.appendChild(c); r[name] = c; return c; }
    ROW_CELLS.forEach(function (spec) {
      var cell = td(spec[0]);
      spec[1].forEach(function (part) {
        var bar = part[1] === "bar";
        var e = bar ? el("div", "bar") : el(part[1], part[2]);
        if (bar) e.appendChild(el("span"));
        cell.appendChild(e);
        r[part[0]] = e;
      });
    });
    r.idText.textContent = id;
    var pr = td("prio");
    var pf = el("div", "prio");
    r.prioInput = el("input"); r.prioInput.type = "number"; r.prioInput.step = "1"; r.prioInput.name = "priority";
    r.prioInput.setAttribute("aria-label", "priority of " + id);
    var setBtn = el("button", null, "Set"); setBtn.dataset.action = "priority";
    setBtn.addEventListener("click", function () {
      var v = parseInt(r.prioInput.value, 10);
      if (isNaN(v)) { toast("priority must be a whole number", true); return; }
      act(id, "priority", { priority: v });
    });
    pf.appendChild(r.prioInput); pf.appendChild(setBtn); pr.appendChild(pf);
    var ac = td("actions");
    var box = el("div", "actions");
    r.toggle = el("button", null, "Disable");
    r.toggle.addEventListener("click", function () { act(id, r.toggle.dataset.action); });
    var refresh = el("button", null, "Refresh"); refresh.dataset.action = "refresh";
    refresh.title = "refresh the access token now";
    refresh.addEventListener("click", function () { act(id, "refresh"); });
    var usage = el("button", null, "Check usage"); usage.dataset.action = "check-usage";
    usage.addEventListener("click", function () { act(id, "check-usage"); });
    var del = el("button", "danger", "Delete"); del.dataset.action = "delete";
    del.addEventListener("click", function () { confirmDelete(id); });
    [r.toggle, refresh, usage, del].forEach(function (b) { box.appendChild(b); });
    ac.appendChild(box);
    return r;
  }

  function setBar(bar, fraction) {
    var f = Math.max(0, Math.min(1, fraction || 0));
    bar.firstChild.style.width = (f * 100).toFixed(1) + "%";
    bar.className = "bar" + (f >= 0.95 ? " bad" : f >= 0.8 ? " warn" : "");
  }

  function updateRow(r, c, hour) {
    r.kind.textContent = c.auth;
    var models = (c.models || []).map(function (m) { return m.id; });
    r.credSub.textContent = (c.region || "") + (c.source ? " · " + c.source : "") +
      (c.refresh_token_fingerprint ? " · rt " + c.refresh_token_fingerprint : "") +
      " · " + (c.catalogue_at ? models.length + " models" : "catalogue unknown");
    r.credSub.title = models.map(function (id, i) {
      var w = c.models[i].context_window;
      return id + (w ? " (" + Math.round(w / 1000) + "K)" : "");
    }).join("\n");
    r.badge.textContent = c.status;
    r.badge.className = "badge status-badge status-" + c.status;
    r.reason.dataset.reason = c.reason || "";
    r.reason.dataset.until = c.status_until || "";
    r.inflightText.textContent = c.in_flight + " / " + c.max_in_flight;
    setBar(r.inflightBar, c.max_in_flight ? c.in_flight / c.max_in_flight : 0);
    r.expiry.dataset.expires = c.access_expires_at || "";
    r.fp.textContent = c.access_token_fingerprint || "no access token yet";
    var u = c.usage;
    if (u) {
      var limit = u.base_limit + u.free_trial_limit + u.bonus_limit;
      var used = u.base_used + u.free_trial_used + u.bonus_used;
      r.creditsText.textContent = num(used, 1) + " / " + num(limit, 1) + (u.subscription_title ? " · " + u.subscription_title : "");
      setBar(r.creditsBar, limit ? used / limit : 0);
      var parts = ["base " + num(u.base_used, 1) + "/" + num(u.base_limit, 1)];
      if (u.free_trial_limit || u.free_trial_active) {
        parts.push("trial " + num(u.free_trial_used, 1) + "/" + num(u.free_trial_limit, 1) + (u.free_trial_active ? "" : " (ended)"));
      }
      if (u.bonus_limit) parts.push("bonus " + num(u.bonus_used, 1) + "/" + num(u.bonus_limit, 1));
      if (u.next_reset_at) parts.push("resets " + day(u.next_reset_at));
      r.creditsSub.textContent = parts.join(" · ");
    } else {
      r.creditsText.textContent = "–";
      setBar(r.creditsBar, 0);
      r.creditsSub.textContent = "not checked yet";
    }
    var h = hour || { requests: 0, errors: 0 };
    r.hourText.textContent = h.requests + " req · " + h.errors + " err";
    r.hourSub.textContent = "total " + c.requests + " · " + c.errors + " err";
    r.lastErr.textContent = c.last_error || "";
    r.lastErr.title = c.last_error || "";
    if (document.activeElement !== r.prioInput) r.prioInput.value = String(c.priority);
    var disabled = c.status === "disabled";
    r.toggle.textContent = disabled ? "Enable" : "Disable";
    r.toggle.dataset.action = disabled ? "enable" : "disable";
  }

  function tick() {
    var t = now();
    Object.keys(rows).forEach(function (id) {
      var r = rows[id];
      var exp = parseFloat(r.expiry.dataset.expires);
      if (isNaN(exp)) { r.expiry.textContent = "–"; r.expiry.className = "expiry"; }
      else if (exp <= t) { r.expiry.textContent = "expired"; r.expiry.className = "expiry err-text"; }
      else { r.expiry.textContent = "expires in " + duration(exp - t); r.expiry.className = "expiry"; }
      var until = parseFloat(r.reason.dataset.until);
      var left = !isNaN(until) && until > t ? " (" + duration(until - t) + " left)" : "";
      r.reason.textContent = (r.reason.dataset.reason || "") + left;
    });
  }

  function renderPool() {
    var view = state.pool || {};
    var p = view.pool;
    renderPoolCards(p);
    var banner = $("pool-banner");
    if (view.ok === false) { banner.textContent = view.error || "token-broker unavailable"; banner.className = "banner"; }
    else banner.className = "banner hidden";
    var creds = (p && p.credentials) || [];
    $("pool-empty").className = creds.length || !p ? "empty hidden" : "empty";
    var tbody = $("pool-rows");
    var seen = {};
    var hours = hourTotals().table;
    creds.forEach(function (c) {
      seen[c.id] = true;
      var r = rows[c.id];
      if (!r) { r = makeRow(c.id); rows[c.id] = r; }
      updateRow(r, c, hours[c.id]);
      tbody.appendChild(r.tr); // keeps the broker's order; moving a node keeps its focus state
    });
    Object.keys(rows).forEach(function (id) {
      if (!seen[id]) { rows[id].tr.remove(); delete rows[id]; }
    });
    tick();
  }

  /* ------------------------------------------------------------------ traffic view */
  function renderTrafficCards(t) {
    var cards = $("traffic-cards");
    cards.textContent = "";
    var s = t.totals;
    cards.appendChild(card("Requests, last hour", String(s.requests), num(s.rps, 3) + " req/s", "tcard-requests"));
    cards.appendChild(card("Error rate", s.error_rate == null ? "–" : (100 * s.error_rate).toFixed(1) + " %",
      s.errors + " errors", "tcard-errors"));
    cards.appendChild(card("Latency p50", ms(s.latency_ms.p50), "p95 " + ms(s.latency_ms.p95) + " · p99 " + ms(s.latency_ms.p99), "tcard-latency"));
    cards.appendChild(card("TTFT p50", ms(s.ttft_ms.p50), "p95 " + ms(s.ttft_ms.p95) + " · p99 " + ms(s.ttft_ms.p99), "tcard-ttft"));
    var q = s.queue_ms || {};
    cards.appendChild(card("Queue wait p50", ms(q.p50), "p95 " + ms(q.p95) + " · p99 " + ms(q.p99), "tcard-queue"));
    cards.appendChild(card("Tokens in / out", num(s.input_tokens) + " / " + num(s.output_tokens), null, "tcard-tokens"));
  }

  function chart(name, series, opts) {
    var canvas = $("chart-" + name);
    if (!canvas) return;
    var o = opts || {};
    o.times = state.traffic.times;
    o.series = series;
    KiroCharts.draw(canvas, o);
    KiroCharts.legend($("legend-" + name), series);
  }

  function renderTraffic() {
    var t = state.traffic;
    if (!t) return;
    renderTrafficCards(t);
    if (state.view !== "traffic") return; // canvases are drawn when visible (they need a size)
    chart("rps", [{ name: "requests/s", values: t.rps }]);
    chart("errors", [{ name: "error rate %", values: t.error_rate.map(function (v) { return v == null ? null : 100 * v; }) }],
      { capMax: 100, format: function (v) { return v === 0 ? "0%" : v.toFixed(v >= 10 ? 0 : 1) + "%"; } });
    var msFmt = function (v) { return v >= 1000 ? (v / 1000).toFixed(1) + "s" : Math.round(v) + "ms"; };
    chart("latency", [
      { name: "p50", values: t.latency_p50 }, { name: "p95", values: t.latency_p95 }, { name: "p99", values: t.latency_p99 },
    ], { format: msFmt });
    chart("ttft", [
      { name: "p50", values: t.ttft_p50 }, { name: "p95", values: t.ttft_p95 }, { name: "p99", values: t.ttft_p99 },
    ], { format: msFmt });
    if (t.queue_p50) {
      chart("queue", [
        { name: "p50", values: t.queue_p50 }, { name: "p95", values: t.queue_p95 }, { name: "p99", values: t.queue_p99 },
      ], { format: msFmt });
    }
    chart("tokens", [{ name: "input tokens", values: t.tokens_in }, { name: "output tokens", values: t.tokens_out }]);
    var models = Object.keys(t.models).map(function (m) {
      return { name: m, label: m + " (" + t.models[m].total_requests + ")",
        values: t.models[m].requests.map(function (v) { return v / t.bucket_s; }) };
    });
    chart("models", models, { stacked: true });
    var teamNames = Object.keys(t.teams || {});
    $("figure-teams").className = "chart" + (teamNames.length ? "" : " hidden");
    if (teamNames.length) {
      chart("teams", teamNames.map(function (n) {
        return { name: n, label: n + " (" + t.teams[n].total_requests + ")",
          values: t.teams[n].requests.map(function (v) { return v / t.bucket_s; }) };
      }), { stacked: true });
    }
  }

  /* ------------------------------------------------------------------ tabs */
  function showView(name) {
    state.view = name === "traffic" ? "traffic" : "pool";
    ["pool", "traffic"].forEach(function (v) {
      $("view-" + v).className = "view" + (v === state.view ? "" : " hidden");
      $("tab-" + v).setAttribute("aria-selected", v === state.view ? "true" : "false");
    });
    renderTraffic();
  }
  window.addEventListener("hashchange", function () { showView(location.hash.slice(1)); });
  window.addEventListener("resize", function () { renderTraffic(); });

  /* ------------------------------------------------------------------ live feed */
  function setLive(on, text) {
    $("live-dot").className = "dot " + (on ? "on" : "err");
    $("live-text").textContent = text;
  }

  function connect() {
    var es = new EventSource("/api/events");
    es.onopen = function () { setLive(true, "live"); };
    es.onerror = function () {
      setLive(false, "reconnecting…");
      fetch("/api/pool", { credentials: "same-origin" }).then(function (r) {
        if (r.status === 401) { es.close(); location.reload(); }
      }).catch(function () {});
    };
    es.addEventListener("pool", function (e) {
      state.pool = JSON.parse(e.data);
      state.skewMs = state.pool.generated_at * 1000 - Date.now();
      renderPool();
      document.body.dataset.poolUpdates = String((parseInt(document.body.dataset.poolUpdates || "0", 10)) + 1);
    });
    es.addEventListener("traffic", function (e) {
      state.traffic = JSON.parse(e.data);
      renderTraffic();
      renderPoolCards(state.pool && state.pool.pool);
      var hours = hourTotals().table;
      var creds = (state.pool && state.pool.pool && state.pool.pool.credentials) || [];
      creds.forEach(function (c) { if (rows[c.id]) updateRow(rows[c.id], c, hours[c.id]); });
      document.body.dataset.trafficUpdates = String((parseInt(document.body.dataset.trafficUpdates || "0", 10)) + 1);
    });
    es.addEventListener("credential", function (e) {
      var ev = JSON.parse(e.data);
      var r = rows[ev.credential_id];
      if (r) {
        r.badge.textContent = ev.status;
        r.badge.className = "badge status-badge status-" + ev.status;
        r.tr.classList.remove("flash"); void r.tr.offsetWidth; r.tr.classList.add("flash");
      }
    });
  }

  renderPool();
  showView(location.hash.slice(1));
  setInterval(tick, 1000);
  connect();
})();
