/* consent-svc banner (docs/banner.md). No dependencies.
   <script src="https://consent.example/banner.js" data-site-key="site_..." defer></script>, or, before a tag
   manager, <script src="https://consent.example/v1/banner/site_.../banner.js"></script> (configuration inside:
   Google Consent Mode's default command runs at once). Three equal buttons; every choice is stored on the
   server (a receipt with a consent id), the receipt's id, version and expiry in localStorage (no cookie). */
(function () {
  "use strict";
  var W = window, D = document, script = D.currentScript;
  if (!script) return;
  var config = W.consentSvcConfig;  // set by the per-site script; an element of that id is not it
  if (!config || typeof config.site_key !== "string" || config.nodeType) config = null;
  var siteKey = config ? config.site_key : script.getAttribute("data-site-key");
  var base = script.src.replace(/\/(v1\/banner\/[^/]+\/)?banner\.js(\?.*)?$/, "") + "/v1/banner/" + encodeURIComponent(siteKey);
  var key = "csvc_" + siteKey, qkey = key + "_queue";
  var gpc = navigator.globalPrivacyControl === true;
  var state = null, root = null, t = null, lang = null, opener = null, reopen = null, note = null, wait = 5000, early = false;
  var AD = ["ad_storage", "ad_user_data", "ad_personalization"];
  var SIGNALS = AD.concat(["analytics_storage", "functionality_storage", "personalization_storage", "security_storage"]);

  function load(k) { try { return JSON.parse(localStorage.getItem(k)); } catch (e) { return null; } }
  function keep(k, v) { try { if (v) localStorage.setItem(k, JSON.stringify(v)); else localStorage.removeItem(k); } catch (e) { /* storage blocked */ } }
  var old = D.cookie.match(new RegExp("(?:^|; )" + key + "=([^;]*)"));  // before v2 the state was a cookie
  if (old) { try { if (!load(key)) keep(key, JSON.parse(decodeURIComponent(old[1]))); } catch (e) { /* ignore */ } D.cookie = key + "=; Max-Age=0; Path=/"; }

  function el(tag, attrs, text) {
    var e = D.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text) e.textContent = text;
    return e;
  }
  function each(sel, f) { Array.prototype.forEach.call(D.querySelectorAll(sel), f); }
  function cats() { return config.categories; }
  function off(c) { return gpc && (c.sale_or_share || c.key === "marketing"); }
  function txt(m) { return m ? m[lang] || m[config.default_language] : ""; }
  function title(k) { var c = cats().filter(function (c) { return c.key === k; })[0]; return c ? txt(c.title) : k; }
  function gtag() { (W.dataLayer = W.dataLayer || []).push(arguments); }
  function has(c, k) { return !!c && Object.prototype.hasOwnProperty.call(c, k) && c[k] === true; }
  // Every signal is denied but security_storage until a choice; after one, a signal is granted only
  // when every category mapped to it is granted (an unmapped signal stays denied).
  function signals(c) {
    var m = config.google_consent_mode.mapping, out = {}, ok = {};
    SIGNALS.forEach(function (s) { out[s] = s === "security_storage" ? "granted" : "denied"; });
    if (c) for (var k in m) if (Object.prototype.hasOwnProperty.call(m, k)) m[k].forEach(function (s) { ok[s] = ok[s] !== false && has(c, k); });
    for (var s in ok) if (ok[s]) out[s] = "granted";
    if (gpc) AD.forEach(function (s) { out[s] = "denied"; });
    return out;
  }
  function gcmDefault() {
    var g = config.google_consent_mode;
    if (!g) return;
    var d = signals(null);
    d.wait_for_update = g.wait_for_update;
    if (g.region.length) d.region = g.region;
    gtag("consent", "default", d);
  }
  // What tags must know at once: Google Consent Mode and the dataLayer (before the DOM is ready).
  function signal() {
    if (config.google_consent_mode) gtag("consent", "update", signals(state.c));
    if (config.google_consent_mode || W.dataLayer) W.dataLayer.push({ event: "consent_svc_update", consent_svc: { categories: state.c } });  // no consent id: tags need none
  }
  // And what needs the page: cookies of refused categories, blocked elements, the reopen control, events.
  function apply() {
    cats().forEach(function (c) { if (state && !state.c[c.key]) drop(c.cookies || []); });
    if (state && config.meta_pixel && W.fbq) W.fbq("consent", state.c.marketing ? "grant" : "revoke");
    unblock();
    if (state) D.dispatchEvent(new CustomEvent("consent-svc:change", { detail: { consentId: state.id, categories: state.c } }));
    control();
  }
  function drop(list) {
    D.cookie.split("; ").forEach(function (pair) {
      var name = pair.split("=")[0], host = location.hostname.split(".");
      if (!list.some(function (w) { return w.slice(-1) === "*" ? name.indexOf(w.slice(0, -1)) === 0 : name === w; })) return;
      D.cookie = name + "=; Max-Age=0; Path=/";
      for (var i = 0; i < host.length - 1; i++) D.cookie = name + "=; Max-Age=0; Path=/; Domain=." + host.slice(i).join(".");
    });
  }
  function granted(e) { return !!state && has(state.c, e.getAttribute("data-consent-category")); }
  function unblock() {
    var list = [];
    each("script[type='text/plain'][data-consent-category]", function (s) { if (!s.csvc && granted(s)) { s.csvc = 1; list.push(s); } });
    run(list);
    each("iframe[data-consent-category][data-src]", function (f) {
      var ph = f.csvc;
      if (granted(f)) {
        if (!f.getAttribute("src") || f.getAttribute("src") === "about:blank") f.src = f.getAttribute("data-src");
        if (ph) { ph.remove(); f.style.display = ""; f.csvc = null; }
      } else if (!ph) {
        if (f.getAttribute("src")) f.src = "about:blank";  // a withdrawal unloads the third party's frame
        ph = f.csvc = el("div", { "class": "consent-svc-placeholder", lang: lang, style: "box-sizing:border-box;border:1px solid #767676;padding:16px;background:#f4f4f4;color:#1a1a1a;width:" + (f.offsetWidth || 300) + "px;min-height:" + (f.offsetHeight || 150) + "px" });
        ph.appendChild(el("p", { style: "margin:0 0 8px" }, t.placeholder.replace("{category}", title(f.getAttribute("data-consent-category")))));
        ph.appendChild(el("button", { type: "button", "data-consent-svc-open": "" }, t.placeholder_button));
        f.parentNode.insertBefore(ph, f);
        f.style.display = "none";
      }
    });
  }
  function run(list) {  // one after another, in document order, each once
    var s = list.shift();
    if (!s) return;
    var n = D.createElement("script");
    for (var i = 0; i < s.attributes.length; i++) if (s.attributes[i].name !== "type") n.setAttribute(s.attributes[i].name, s.attributes[i].value);
    if (s.nonce) n.nonce = s.nonce;  // a CSP nonce is hidden from attributes
    if (s.src) n.onload = n.onerror = function () { run(list); };
    else n.textContent = s.textContent;
    s.parentNode.replaceChild(n, s);
    if (!s.src) run(list);
  }
  function control() {
    if (config.reopen.own_link || !state) return;
    if (!reopen) {
      reopen = el("button", { type: "button", id: "consent-svc-reopen", "data-consent-svc-open": "", lang: lang, style: "position:fixed;bottom:8px;" + (config.reopen.position === "bottom-right" ? "right" : "left") + ":8px;z-index:2147482999;font:14px/1.2 system-ui,sans-serif;padding:8px 12px;border:2px solid #1a1a1a;border-radius:6px;background:#fff;color:#1a1a1a;cursor:pointer" }, t.reopen);
      D.body.appendChild(reopen);
    }
    reopen.hidden = !!root;
  }
  function notice(text) {
    if (note) note.remove();
    note = text ? el("p", { role: "status", id: "consent-svc-notice", lang: lang, style: "position:fixed;bottom:56px;left:8px;right:8px;max-width:40rem;margin:0;z-index:2147482999;padding:12px;background:#fff4ce;color:#1a1a1a;border:2px solid #8a6100;font:15px/1.4 system-ui,sans-serif" }, text) : null;
    if (note) D.body.appendChild(note);
  }

  function close() {
    if (!root) return;
    root.remove();
    root = null;
    control();
    var o = opener;
    opener = null;
    if (o && o !== D.body && o.focus && D.contains(o)) o.focus();
  }
  function chosen(receipt) {
    state = { id: receipt.consent_id, v: receipt.banner_version, exp: Date.parse(receipt.expires_at), c: receipt.categories };
    keep(key, state);
    keep(qkey, null);
    notice(null);
  }
  function post(body) {
    return fetch(base + "/consents", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "omit" })
      .then(function (r) { if (!r.ok) throw r.status; return r.json(); });
  }
  function choose(action, picked, refusal) {
    var body = { action: action, categories: picked || {}, banner_version: config.banner_version, language: lang, gpc_signal: gpc };
    return post(body).then(function (receipt) { chosen(receipt); close(); signal(); apply(); }, function (err) {
      if (err === 409) return fresh();  // the texts changed since they were shown: show the new ones
      if (!refusal) { if (root) root.querySelector("#csvc-notice").textContent = t.failed; else notice(t.failed); return; }
      var c = {};  // a refusal applies here at once; it is queued and sent when the service answers
      cats().forEach(function (k) { c[k.key] = !!k.required || (!!picked && !!picked[k.key] && !off(k)); });
      state = { id: null, v: config.banner_version, exp: Date.now() + config.validity_days * 864e5, c: c };
      keep(key, state);
      keep(qkey, body);
      close(); signal(); apply();
      notice(t.offline);
      setTimeout(flush, wait);
    });
  }
  function flush() {
    var body = load(qkey);
    if (!body) return;
    notice(t.offline);
    post(body).then(function (receipt) { chosen(receipt); signal(); apply(); }, function (err) {
      if (err === 409) { keep(qkey, null); notice(null); return fresh(); }
      wait = Math.min(wait * 2, 60000);
      setTimeout(flush, wait);
    });
  }
  function fresh() {
    return fetch(base + "/config", { credentials: "omit" }).then(function (r) { return r.json(); }).then(function (c) {
      config = c;
      start();
    });
  }

  function show(settings) {
    if (root) root.remove();
    opener = opener || D.activeElement;
    root = el("div", { role: "dialog", "aria-modal": "true", "aria-labelledby": "csvc-title", "aria-describedby": "csvc-text", id: "consent-svc-banner", lang: lang });
    root.style.cssText = "position:fixed;left:0;right:0;bottom:0;z-index:2147483000;background:#fff;color:#1a1a1a;border-top:2px solid #1a1a1a;padding:16px;font:16px/1.5 system-ui,sans-serif;box-shadow:0 -2px 12px rgba(0,0,0,.2);max-height:90vh;overflow:auto";
    var box = el("div", { style: "max-width:56rem;margin:0 auto" }), p = "margin:0 0 8px";
    var h = el("h2", { id: "csvc-title", tabindex: "-1", style: "margin:0 0 8px;font-size:1.15rem" }, t.title);
    box.appendChild(h);
    box.appendChild(el("p", { id: "csvc-text", style: p }, t.purposes + " " + t.withdraw));
    var who = el("p", { style: p }, t.controller + " ");
    if (config.policy_url) who.appendChild(el("a", { href: config.policy_url, target: "_blank", rel: "noopener", id: "csvc-policy" }, t.policy));
    box.appendChild(who);
    if (gpc) box.appendChild(el("p", { style: p + ";font-weight:600" }, t.gpc));
    var panel = el("div", { id: "csvc-settings" }), set = el("fieldset", { style: "border:1px solid #767676;margin:0 0 12px;padding:8px 12px" });
    panel.hidden = !settings;
    set.appendChild(el("legend", {}, t.legend));
    cats().forEach(function (c) {
      var id = "csvc-cat-" + c.key, row = el("div", { style: "padding:6px 0" }), input = el("input", { type: "checkbox", id: id, name: c.key });
      input.checked = c.required || (state ? !!state.c[c.key] : false);
      if (c.required || off(c)) { input.disabled = true; input.checked = !off(c); }
      row.appendChild(input);
      row.appendChild(el("label", { "for": id, style: "font-weight:600;margin-left:8px" }, txt(c.title)));
      var more = el("div", { style: "margin-left:28px;color:#444" }, txt(c.description));
      if (c.third_parties && c.third_parties.length) more.appendChild(el("div", {}, t.third_parties + " " + c.third_parties.join(", ")));
      if (c.lifetime) more.appendChild(el("div", {}, t.lifetime + " " + txt(c.lifetime)));
      row.appendChild(more);
      set.appendChild(row);
    });
    panel.appendChild(set);
    if (state && state.id) panel.appendChild(el("p", { id: "csvc-id", style: p }, t.consent_id + " " + state.id));
    box.appendChild(panel);
    var buttons = el("div", { style: "display:flex;flex-wrap:wrap;gap:8px" });
    function button(action, text, onClick) {
      var b = el("button", { type: "button", "data-action": action, style: "flex:1 1 10rem;min-height:44px;font:inherit;padding:8px 16px;border:2px solid #1a1a1a;background:#fff;color:#1a1a1a;border-radius:6px;cursor:pointer" }, text);
      b.addEventListener("click", onClick);
      buttons.appendChild(b);
      return b;
    }
    button("accept_all", t.accept, function () { choose("accept_all"); });
    button("reject_all", t.reject, function () { choose("reject_all", null, true); });
    var more = button("settings", settings ? t.save : t.settings, function () {
      if (panel.hidden) { panel.hidden = false; more.textContent = t.save; more.setAttribute("aria-expanded", "true"); return; }
      var picked = {};
      cats().forEach(function (c) { picked[c.key] = D.getElementById("csvc-cat-" + c.key).checked; });
      choose("save", picked, !cats().some(function (c) { return !c.required && picked[c.key]; }));
    });
    more.setAttribute("aria-expanded", String(!!settings));
    more.setAttribute("aria-controls", "csvc-settings");
    box.appendChild(buttons);
    box.appendChild(el("p", { id: "csvc-notice", role: "status", style: "margin:8px 0 0;font-weight:600" }));
    root.appendChild(box);
    root.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { e.preventDefault(); if (state) close(); else choose("dismiss", null, true); return; }
      if (e.key !== "Tab") return;  // keep focus inside while the dialog is modal
      var f = Array.prototype.filter.call(root.querySelectorAll("button,input,a[href]"), function (x) { return !x.disabled && x.offsetParent; });
      var a = D.activeElement;
      if (e.shiftKey && (a === f[0] || a === h)) { e.preventDefault(); f[f.length - 1].focus(); }
      else if (!e.shiftKey && a === f[f.length - 1]) { e.preventDefault(); f[0].focus(); }
    });
    D.body.appendChild(root);
    control();
    h.focus();
  }

  function start() {
    var w = (D.documentElement.lang || navigator.language || "").slice(0, 2).toLowerCase();
    lang = config.languages.indexOf(w) < 0 ? config.default_language : w;
    t = config.texts[lang];
    var s = load(key);
    state = s && s.v === config.banner_version && s.exp > Date.now() ? s : null;
    if (!state) { apply(); show(false); return; }
    if (cats().some(function (c) { return off(c) && state.c[c.key]; })) {  // GPC now on: it overrides the stored choice
      var picked = {};
      cats().forEach(function (c) { picked[c.key] = !!state.c[c.key] && !off(c); });
      state.c = picked;
      keep(key, state);
      signal();
      apply();
      choose("save", picked, true);
      return;
    }
    if (!early) signal();
    early = false;
    apply();
    flush();
  }
  function ready(f) { if (D.readyState === "loading") D.addEventListener("DOMContentLoaded", f); else f(); }

  W.consentSvc = {
    get: function (category) { return state ? state.c[category] === true : category === "necessary"; },
    consentId: function () { return state ? state.id : null; },
    open: function () { if (config && t) show(true); },
    ready: null
  };
  D.addEventListener("click", function (e) {
    var target = e.target && e.target.closest && e.target.closest("[data-consent-svc-open]");
    if (target) { e.preventDefault(); opener = target; W.consentSvc.open(); }
  });
  if (config) {
    gcmDefault();
    var s = load(key);  // a stored choice updates Google's signals before any tag runs
    if (s && s.v === config.banner_version && s.exp > Date.now() && !gpc) { state = s; signal(); early = true; }
    W.consentSvc.ready = new Promise(ready).then(start);
  } else {
    W.consentSvc.ready = fetch(base + "/config", { credentials: "omit" })
      .then(function (r) { return r.json(); })
      .then(function (c) {
        config = c;
        if (c.google_consent_mode && W.console) console.error("consent-svc: Google Consent Mode needs the per-site script " + base + "/banner.js before the tag manager (docs/banner.md)");
        gcmDefault();
        return new Promise(ready);
      })
      .then(start);
  }
})();
