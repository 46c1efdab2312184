/* Attain's dashboard: reads /api/v1 with the signed-in token, updates live from /api/v1/stream. */
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "attain.token";
const SHOWN_LINES = 12;
const state = { token: null, me: null, reps: [], kpis: [], chart: null, refreshTimer: null };

const money = (v) => v == null ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: 0 });
const pct = (v) => v == null ? "–" : (Number(v) * 100).toFixed(1) + " %";
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
  '"': "&quot;", "'": "&#39;" }[c]));

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: { ...(options.headers || {}),
    Authorization: `Bearer ${state.token}` } });
  if (res.status === 401) { signOut("Your token is not valid (unknown, revoked or expired)."); throw new Error("401"); }
  const body = await res.json();
  if (!res.ok) throw new Error(body.detail || res.statusText);
  return body;
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  state.token = null;
  $("board").hidden = true; $("signout").hidden = true; $("signin").hidden = false;
  $("signin-error").textContent = message || "";
}

async function signIn(token) {
  state.token = token;
  try {
    state.me = await api("/api/v1/whoami");
  } catch (e) { if (e.message !== "401") signOut(e.message); return; }
  if (state.me.role === "service") { signOut("A service token publishes events only: sign in with another."); return; }
  sessionStorage.setItem(KEY, token);
  $("signin").hidden = true; $("board").hidden = false; $("signout").hidden = false;
  $("who").textContent = `${state.me.tenant} · ${state.me.role}` +
    (state.me.rep ? ` · ${state.me.rep}` : "") + (state.me.manager ? ` · team ${state.me.manager}` : "");
  state.reps = await api("/api/v1/reps");
  fillFilters();
  await refresh();
  follow();
}

function fillFilters() {
  const fill = (sel, values) => {
    for (const v of [...new Set(values.filter(Boolean))].sort()) {
      const o = document.createElement("option"); o.value = v; o.textContent = v; sel.appendChild(o);
    }
  };
  fill($("f-region"), state.reps.map((r) => r.region));
  fill($("f-team"), state.reps.map((r) => r.manager));
  $("st-rep").innerHTML = state.reps.map((r) => `<option>${esc(r.name)}</option>`).join("");
}

function filteredReps() {
  const region = $("f-region").value, team = $("f-team").value;
  const roster = new Map(state.reps.map((r) => [r.name, r]));
  return (row) => {
    const r = roster.get(row.key) || {};
    return (!region || r.region === region) && (!team || r.manager === team);
  };
}

async function refresh() {
  const period = $("f-period").value.trim();
  const q = period ? `&period=${encodeURIComponent(period)}` : "";
  try {
    const [kpis, goals, funnel, trend] = await Promise.all([
      api(`/api/v1/kpis?by=rep${q}`), api("/api/v1/goals/progress").catch(() => []),
      api("/api/v1/funnel"), api("/api/v1/trend")]);
    state.kpis = kpis;
    renderBoard(); renderGoals(goals); renderFunnel(funnel); renderTrend(trend);
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    $("updated").classList.remove("error");
  } catch (e) {
    $("updated").textContent = e.message; $("updated").classList.add("error");
  }
}

function renderBoard() {
  const rows = state.kpis.filter(filteredReps());
  const sum = (k) => rows.reduce((s, r) => s + Number(r[k] || 0), 0);
  const won = sum("won_deals"), lost = sum("lost_deals");
  $("t-won").textContent = money(sum("won_revenue"));
  $("t-won").dataset.value = sum("won_revenue");
  $("t-winrate").textContent = won + lost ? pct(won / (won + lost)) : "–";
  $("t-pipeline").textContent = money(sum("pipeline_value"));
  $("t-open").textContent = sum("open_deals").toLocaleString("en-US");
  const top = Math.max(1, ...rows.map((r) => Number(r.won_revenue || 0)));
  $("leaderboard").querySelector("tbody").innerHTML = rows.map((r, i) => `
    <tr data-rep="${esc(r.key)}">
      <td>${i + 1}</td><td>${esc(r.key)}</td>
      <td class="num" data-field="won_revenue" data-value="${r.won_revenue}">${money(r.won_revenue)}</td>
      <td class="barcell"><div class="bar" style="width:${100 * Number(r.won_revenue || 0) / top}%"></div></td>
      <td class="num" data-field="won_deals" data-value="${r.won_deals}">${r.won_deals}</td>
      <td class="num" data-field="win_rate" data-value="${r.win_rate ?? ""}">${pct(r.win_rate)}</td>
      <td class="num" data-field="pipeline_value" data-value="${r.pipeline_value}">${money(r.pipeline_value)}</td>
    </tr>`).join("");
}

function renderGoals(goals) {
  $("goals").innerHTML = goals.length ? goals.map((g) => {
    const a = Math.min(1.5, Number(g.attainment || 0)), pace = Math.min(1.5, Number(g.expected_attainment || 0));
    return `<div class="goal ${esc(g.status)}" data-goal="${esc(g.id)}">
      <div>${esc(g.id)} <span class="muted">${esc(g.owner)}</span>
        <span class="status">${esc(g.status)}</span> <span class="num">${pct(g.attainment)}</span></div>
      <div class="track"><div class="fill" style="width:${100 * a / 1.5}%"></div>
        <div class="pace" style="left:${100 * pace / 1.5}%" title="pace ${pct(g.expected_attainment)}"></div></div>
    </div>`;
  }).join("") : '<p class="muted">No goals (attain goals add …)</p>';
}

function renderFunnel(stages) {
  const top = Math.max(1, ...stages.map((s) => s.open_deals));
  $("funnel").innerHTML = stages.map((s) => `
    <div class="stage ${s.bottleneck ? "bottleneck" : ""}" data-stage="${esc(s.stage)}">
      <span>${esc(s.stage)}${s.bottleneck ? " ⚠" : ""}</span>
      <div class="bar" style="width:${100 * s.open_deals / top}%"></div>
      <span class="num" data-value="${s.open_deals}">${s.open_deals}</span></div>`).join("")
    || '<p class="muted">No open deals</p>';
}

function renderTrend(rows) {
  const el = $("trend");
  const xs = rows.map((r) => Date.UTC(+r.month.slice(0, 4), +r.month.slice(5, 7) - 1, 1) / 1000);
  const ys = rows.map((r) => Number(r.won_revenue || 0));
  el.dataset.months = rows.map((r) => r.month).join(",");
  if (state.chart) { state.chart.setData([xs, ys]); return; }
  state.chart = new uPlot({ width: Math.max(300, el.clientWidth - 10), height: 220,
    axes: [{ stroke: "#94a3b8" }, { stroke: "#94a3b8", size: 90, values: (u, v) => v.map(money) }],
    series: [{}, { label: "won revenue", stroke: "#38bdf8", fill: "rgba(56,189,248,.15)", width: 2 }],
    scales: { x: { time: true } } }, [xs, ys], el);
}

async function showStatement(ev) {
  ev.preventDefault();
  const rep = $("st-rep").value, period = $("st-period").value.trim();
  if (!rep || !period) return;
  try {
    const st = await api(`/api/v1/commission/statements/${encodeURIComponent(rep)}/${encodeURIComponent(period)}/explain`);
    $("statement").innerHTML = `<p>${esc(st.rep || rep)} ${esc(st.period || period)}: total
      <b data-testid="st-total" data-value="${st.total}">${money(st.total)}</b> · ${esc(st.status || "preview")}</p>
      <table><thead><tr><th>Deal</th><th>Rule</th><th class="num">Basis</th><th class="num">Rate</th>
      <th class="num">Amount</th></tr></thead><tbody>
      ${(st.lines || []).slice(0, SHOWN_LINES).map((l) => `<tr><td>${esc(l.deal ?? "")}</td><td>${esc(l.rule)}</td>
        <td class="num">${money(l.basis)}</td><td class="num">${l.rate == null ? "" : pct(l.rate)}</td>
        <td class="num">${Number(l.amount).toFixed(2)}</td></tr>`).join("")}</tbody></table>
      ${(st.lines || []).length > SHOWN_LINES ? `<p class="muted">… and ${st.lines.length - SHOWN_LINES} more
        lines (by rule: ${Object.entries(st.by_rule || {}).map(([k, v]) => `${esc(k)} ${money(v)}`).join(", ")})</p>` : ""}`;
  } catch (e) { $("statement").innerHTML = `<p class="error">${esc(e.message)}</p>`; }
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refresh, 150);
}

async function follow() {
  // fetch, not EventSource: the token travels in the Authorization header, never in a URL
  while (state.token) {
    try {
      const res = await fetch("/api/v1/stream", { headers: { Authorization: `Bearer ${state.token}` } });
      if (!res.ok) throw new Error(String(res.status));
      $("live").className = "live on";
      const reader = res.body.getReader(), decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          if (/^event: (kpi|goal)$/m.test(block)) scheduleRefresh();
        }
      }
    } catch (e) { /* reconnect below */ }
    $("live").className = "live off";
    await new Promise((r) => setTimeout(r, 2000));
  }
}

window.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token").value.trim()); });
  $("signout").addEventListener("click", () => signOut(""));
  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
  $("f-region").addEventListener("change", renderBoard);
  $("f-team").addEventListener("change", renderBoard);
  $("st-form").addEventListener("submit", showStatement);
  const m = location.hash.match(/token=([^&]+)/);
  if (m) history.replaceState(null, "", location.pathname);   // the token leaves the address bar
  const token = m ? decodeURIComponent(m[1]) : sessionStorage.getItem(KEY);
  if (token) signIn(token); else signOut("");
});
