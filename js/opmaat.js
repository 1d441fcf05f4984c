/* opmaat: fills [data-opmaat-slot] elements from the edge. Budget: 2048 bytes gzip -9, as served. */
(function (w, d) {
  if (w.opmaat && w.opmaat.loaded) return;
  var me = d.currentScript || {};
  var attr = function (n) { return me.getAttribute && me.getAttribute("data-" + n); };
  var edge = attr("edge") || (me.src || "").replace(/\/opmaat\.js[^/]*$/, "");
  var budget = +attr("timeout") || 300;
  // The page's consent default until the visitor answers (data-consent="none" with a banner).
  var cap = attr("consent") || undefined;
  var queue = (w.opmaat && w.opmaat.q) || [];
  var SLOT = "data-opmaat-slot", WAIT = "data-opmaat-wait", FILLED = "data-opmaat-filled";
  // A slot's decision, as data-opmaat-* attributes; its token makes its impression count.
  var MARKS = ["campaign", "variant", "token"];
  var seen, timer, ready;
  // Events wait for the first decide: its answer sets the visitor cookie the edge requires.
  var decided = new Promise(function (r) { ready = r; });

  function send(path, body) {
    body.consent = cap;
    return fetch(edge + path, {
      method: "POST", body: JSON.stringify(body), credentials: "include", keepalive: path != "/v1/decide"
    });
  }
  function event(type, data) {
    data = data || {};
    data.type = type;
    data.url = location.href;
    decided.then(function () { return send("/v1/events", data); }).catch(function () {});
  }

  function meta() {
    var page = {}, el = d.querySelector("[data-opmaat-page]");
    d.querySelectorAll('meta[name^="opmaat:"]').forEach(function (m) {
      page[m.name.slice(7)] = m.content;
    });
    d.querySelectorAll('script[type="application/ld+json"]').forEach(function (s) {
      try {
        var j = JSON.parse(s.textContent);
        if (j["@type"] == "Product") {
          page.product = j.sku || j.productID || j.name;
          page.product_name = j.name;
          page.category = page.category || j.category;
          page.price = j.offers && +j.offers.price || undefined;
        }
      } catch (e) {}
    });
    try { if (el) Object.assign(page, JSON.parse(el.getAttribute("data-opmaat-page"))); } catch (e) {}
    return page;
  }

  var seenTimers = new WeakMap();
  var io = w.IntersectionObserver && new IntersectionObserver(function (entries) {
    entries.forEach(function (en) {
      var el = en.target;
      clearTimeout(seenTimers.get(el));
      if (en.isIntersecting) seenTimers.set(el, setTimeout(function () {
        io.unobserve(el);
        event("impression", info(el));
      }, 1000));
    });
  }, { threshold: 0.5 });

  function mark(el, k) { return el.getAttribute("data-opmaat-" + k) || undefined; }
  function info(el) {
    var o = { slot: el.getAttribute(SLOT) };
    MARKS.forEach(function (k) { o[k] = mark(el, k); });
    return o;
  }

  function reveal(els) {
    els.forEach(function (el) { el.removeAttribute(WAIT); });
  }

  function fill(els, answer) {
    var slots = (answer && answer.slots) || {};
    els.forEach(function (el) {
      var s = slots[el.getAttribute(SLOT)];
      if (el.opmaatDefault == null) el.opmaatDefault = el.innerHTML;
      MARKS.forEach(function (k) {
        el.removeAttribute("data-opmaat-" + k);
        if (s && s.campaign && s[k]) el.setAttribute("data-opmaat-" + k, s[k]);
      });
      if (s && s.campaign && io) io.observe(el);
      el.innerHTML = s && s.html != null ? s.html : el.opmaatDefault;
      el.setAttribute(FILLED, "");
    });
    reveal(els);
  }

  // Slots the server already filled (the SDK middleware) are left alone, apart from their
  // impressions, until refresh() asks for everything again; but one without its token (from
  // a shared cache) is decided again, for a token of this visitor's own.
  function decide(all) {
    var els = [];
    d.querySelectorAll("[" + SLOT + "]").forEach(function (el) {
      var kept = el.getAttribute(FILLED) == "server" && (mark(el, "token") || !mark(el, "campaign"));
      if (all === 1 || !kept) els.push(el);
      else if (io && !el.opmaatIo && mark(el, "campaign")) {
        el.opmaatIo = 1;
        io.observe(el);
      }
    });
    var where = location.pathname + location.search;
    if (!els.length) ready();
    if (where == seen || !els.length) return;
    seen = where;
    els.forEach(function (el) { el.setAttribute(WAIT, ""); });
    var late = false;
    clearTimeout(timer);
    timer = setTimeout(function () { late = true; reveal(els); }, budget);
    send("/v1/decide", {
      url: location.href, referrer: d.referrer, page: meta(),
      slots: els.map(function (el) { return el.getAttribute(SLOT); })
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (a) {
      if (!late) { clearTimeout(timer); fill(els, a); }
    }).catch(function () { reveal(els); }).then(ready);
  }

  var style = d.createElement("style");
  style.nonce = attr("nonce") || "";
  style.textContent = "[" + WAIT + "]{visibility:hidden}";
  d.head.appendChild(style);

  d.addEventListener("click", function (e) {
    var el = e.target.closest && e.target.closest("[data-opmaat-campaign]");
    if (el) event("click", info(el));
  }, true);

  ["pushState", "replaceState"].forEach(function (name) {
    var orig = history[name];
    history[name] = function () {
      var out = orig.apply(this, arguments);
      setTimeout(decide);
      return out;
    };
  });
  w.addEventListener("popstate", decide);
  w.addEventListener("pageshow", function (e) { if (e.persisted) { seen = 0; decide(); } });

  // A favourite or a rating: an event whose props are the product and its stars.
  function explicit(name) {
    return function (id, stars) { api.track(name, { id: id, rating: stars }); };
  }
  var api = {
    loaded: 1,
    track: function (name, props) { event("goal", { name: name, props: props }); },
    favourite: explicit("favourite"),
    unfavourite: explicit("unfavourite"),
    rate: explicit("rate"),
    refresh: refresh,
    // After the answer (consent) or the link (identify), decide again with what it allows.
    consent: function (c) { post("/v1/consent", { tier: c.tier || c }); },
    identify: function (id, proof) { post("/v1/identify", { customer_id: id, proof: proof }); }
  };
  function refresh() { seen = 0; decide(1); }
  function post(path, body) {
    decided.then(function () { return send(path, body); }).catch(function () {}).then(refresh);
  }
  w.opmaat = function (method) {
    var fn = api[method];
    if (fn) fn.apply(null, [].slice.call(arguments, 1));
  };
  Object.assign(w.opmaat, api);
  queue.forEach(function (args) { w.opmaat.apply(null, args); });

  if (d.readyState == "loading") d.addEventListener("DOMContentLoaded", decide);
  else decide();
})(window, document);
