/* consent-svc banner: <script src="https://consent.example/banner.js" data-site-key="site_..." defer></script>
   No dependencies. Rejecting is as easy as accepting: three equal buttons. The choice is stored on the
   server (a receipt with a consent id) and its id in a first-party cookie. Tag managers read
   window.consentSvc.get("analytics") or listen for the "consent-svc:change" event on document.
   Any element with data-consent-svc-open reopens the settings. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var siteKey = script.getAttribute("data-site-key");
  var api = script.src.replace(/\/banner\.js(\?.*)?$/, "");
  var cookieName = "csvc_" + siteKey;
  var T = {
    sv: { title: "Vi värnar om din integritet", text: "Vi använder cookies och liknande tekniker. Nödvändiga behövs för att webbplatsen ska fungera; övriga används bara om du godkänner dem.",
          accept: "Acceptera alla", reject: "Avvisa alla", settings: "Inställningar", save: "Spara val", gpc: "Din webbläsare skickar Global Privacy Control: marknadsföring är avstängd." },
    en: { title: "We care about your privacy", text: "We use cookies and similar technologies. Necessary ones keep the site working; the others are used only if you agree.",
          accept: "Accept all", reject: "Reject all", settings: "Settings", save: "Save choices", gpc: "Your browser sends Global Privacy Control: marketing is switched off." }
  };
  var lang = ((document.documentElement.lang || navigator.language || "sv").slice(0, 2).toLowerCase() === "en") ? "en" : "sv";
  var t = T[lang];
  var gpc = navigator.globalPrivacyControl === true;
  var config = null, state = null, root = null;

  function readCookie() {
    var m = document.cookie.match(new RegExp("(?:^|; )" + cookieName + "=([^;]*)"));
    if (!m) return null;
    try { return JSON.parse(decodeURIComponent(m[1])); } catch (e) { return null; }
  }
  function writeCookie(s) {
    var maxAge = Math.max(0, Math.floor((s.exp - Date.now()) / 1000));
    document.cookie = cookieName + "=" + encodeURIComponent(JSON.stringify(s)) + "; Max-Age=" + maxAge +
      "; Path=/; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
  }
  function forcedOff(c) { return gpc && (c.sale_or_share || c.key === "marketing"); }
  function announce() {
    document.dispatchEvent(new CustomEvent("consent-svc:change", { detail: { consentId: state.id, categories: state.c } }));
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text) e.textContent = text;
    return e;
  }
  function close() { if (root) { root.remove(); root = null; } }

  function send(action, chosen) {
    var body = { action: action, categories: chosen, banner_version: config.banner_version, language: lang, gpc_signal: gpc };
    return fetch(api + "/v1/banner/" + encodeURIComponent(siteKey) + "/consents", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "omit"
    }).then(function (r) {
      if (!r.ok) throw new Error("consent-svc: " + r.status);
      return r.json();
    }).then(function (receipt) {
      state = { id: receipt.consent_id, v: receipt.banner_version, exp: Date.parse(receipt.expires_at), c: receipt.categories };
      writeCookie(state);
      close();
      announce();
      return receipt;
    });
  }

  function show(withSettings) {
    close();
    root = el("div", { role: "dialog", "aria-labelledby": "csvc-title", "aria-describedby": "csvc-text", id: "consent-svc-banner", lang: lang });
    root.style.cssText = "position:fixed;left:0;right:0;bottom:0;z-index:2147483000;background:#fff;color:#1a1a1a;" +
      "border-top:2px solid #1a1a1a;padding:16px;font:16px/1.5 system-ui,sans-serif;box-shadow:0 -2px 12px rgba(0,0,0,.2)";
    var box = el("div", {});
    box.style.cssText = "max-width:56rem;margin:0 auto";
    box.appendChild(el("h2", { id: "csvc-title", style: "margin:0 0 8px;font-size:1.15rem" }, t.title));
    box.appendChild(el("p", { id: "csvc-text", style: "margin:0 0 12px" }, t.text));
    if (gpc) box.appendChild(el("p", { style: "margin:0 0 12px;font-weight:600" }, t.gpc));
    var panel = el("fieldset", { id: "csvc-settings", style: "border:1px solid #767676;margin:0 0 12px;padding:8px 12px" });
    panel.hidden = !withSettings;
    config.categories.forEach(function (c) {
      var id = "csvc-cat-" + c.key;
      var row = el("div", { style: "padding:6px 0" });
      var box2 = el("input", { type: "checkbox", id: id, name: c.key });
      box2.checked = c.required || (state ? !!state.c[c.key] : false);
      if (c.required || forcedOff(c)) { box2.disabled = true; if (forcedOff(c)) box2.checked = false; }
      var label = el("label", { "for": id, style: "font-weight:600;margin-left:8px" }, c.title[lang] || c.title.en);
      row.appendChild(box2); row.appendChild(label);
      row.appendChild(el("div", { style: "margin-left:28px;color:#444" }, c.description[lang] || c.description.en));
      panel.appendChild(row);
    });
    box.appendChild(panel);
    var buttons = el("div", { style: "display:flex;flex-wrap:wrap;gap:8px" });
    var style = "flex:1 1 10rem;min-height:44px;font:inherit;padding:8px 16px;border:2px solid #1a1a1a;background:#fff;color:#1a1a1a;border-radius:6px;cursor:pointer";
    function button(value, text, onClick) {
      var b = el("button", { type: "button", "data-action": value, style: style }, text);
      b.addEventListener("click", onClick);
      buttons.appendChild(b);
    }
    button("accept_all", t.accept, function () { send("accept_all", {}); });
    button("reject_all", t.reject, function () { send("reject_all", {}); });
    button("settings", panel.hidden ? t.settings : t.save, function () {
      if (panel.hidden) { panel.hidden = false; this.textContent = t.save; return; }
      var chosen = {};
      config.categories.forEach(function (c) { chosen[c.key] = document.getElementById("csvc-cat-" + c.key).checked; });
      send("save", chosen);
    });
    box.appendChild(buttons);
    root.appendChild(box);
    document.body.appendChild(root);
    root.querySelector("button").focus();
  }

  window.consentSvc = {
    get: function (category) { return state ? state.c[category] === true : category === "necessary"; },
    consentId: function () { return state ? state.id : null; },
    open: function () { if (config) show(true); },
    ready: null
  };
  document.addEventListener("click", function (e) {
    var target = e.target && e.target.closest && e.target.closest("[data-consent-svc-open]");
    if (target) { e.preventDefault(); window.consentSvc.open(); }
  });

  window.consentSvc.ready = fetch(api + "/v1/banner/" + encodeURIComponent(siteKey) + "/config", { credentials: "omit" })
    .then(function (r) { return r.json(); })
    .then(function (c) {
      config = c;
      var stored = readCookie();
      if (stored && stored.v === c.banner_version && stored.exp > Date.now()) {
        state = stored;
        announce();
      } else {
        state = null;
        show(false);
      }
    });
})();
