// weixi web: render ECharts from data-chart JSON (no inline scripts: strict CSP), after htmx swaps too.
(function () {
  "use strict";
  function initCharts(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.chartReady) return;
      var option;
      try { option = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
      var chart = echarts.init(el, null, { renderer: "canvas" });
      option.animation = false;
      chart.setOption(option);
      el.dataset.chartReady = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
    document.documentElement.dataset.chartsReady = "1";
  }
  document.addEventListener("DOMContentLoaded", function () { initCharts(document); });
  document.addEventListener("htmx:afterSwap", function (evt) { initCharts(evt.target); });
  document.addEventListener("change", function (evt) {
    if (evt.target.hasAttribute && evt.target.hasAttribute("data-autosubmit")) evt.target.form.submit();
  });
  // confirm dialogs declared as data-confirm on forms
  document.addEventListener("submit", function (evt) {
    var msg = evt.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) evt.preventDefault();
  });
})();

// Date inputs in the page's language (data-date="date" | "datetime"): ISO text plus a calendar
// whose month, weekdays and time labels follow <html lang>. The native picker would follow the
// browser's locale instead (mm/dd/yyyy in a Chinese page on an English browser).
(function () {
  "use strict";
  var open = null;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function lang() { return document.documentElement.lang || "en"; }
  function zh() { return lang().toLowerCase().indexOf("zh") === 0; }
  function parse(text) {
    var m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}))?$/.exec((text || "").trim());
    return m ? new Date(+m[1], +m[2] - 1, +m[3], +(m[4] || 9), +(m[5] || 0)) : null;
  }
  function iso(d) { return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()); }
  function close() { if (open) { open.box.remove(); open = null; } }
  function select(options, value, label) {
    var s = document.createElement("select");
    s.setAttribute("aria-label", label);
    options.forEach(function (v) {
      var o = document.createElement("option");
      o.value = v; o.textContent = pad(v); if (v === value) o.selected = true; s.appendChild(o);
    });
    return s;
  }
  function show(input) {
    if (open && open.input === input) return;
    close();
    var kind = input.getAttribute("data-date");
    var cur = parse(input.value) || new Date(new Date().setHours(9, 0, 0, 0));
    var view = new Date(cur.getFullYear(), cur.getMonth(), 1);
    var box = document.createElement("div");
    box.className = "datepicker";
    box.setAttribute("role", "dialog");
    open = { input: input, box: box };
    function pick(day) {
      var d = new Date(day.getFullYear(), day.getMonth(), day.getDate(), cur.getHours(), cur.getMinutes());
      input.value = iso(d) + (kind === "datetime" ? " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) : "");
      input.dispatchEvent(new Event("change", { bubbles: true }));
      close();
    }
    function render() {
      box.innerHTML = "";
      var head = document.createElement("div");
      head.className = "dp-head";
      var prev = document.createElement("button"), next = document.createElement("button");
      prev.type = next.type = "button"; prev.textContent = "‹"; next.textContent = "›";
      prev.className = next.className = "secondary";
      prev.setAttribute("aria-label", zh() ? "上个月" : "Previous month");
      next.setAttribute("aria-label", zh() ? "下个月" : "Next month");
      prev.onclick = function () { view.setMonth(view.getMonth() - 1); render(); };
      next.onclick = function () { view.setMonth(view.getMonth() + 1); render(); };
      var title = document.createElement("strong");
      title.className = "dp-title";
      title.textContent = new Intl.DateTimeFormat(lang(), { year: "numeric", month: "long" }).format(view);
      head.append(prev, title, next);
      box.appendChild(head);
      var grid = document.createElement("div");
      grid.className = "dp-grid";
      var wd = new Intl.DateTimeFormat(lang(), { weekday: "short" });
      for (var i = 0; i < 7; i++) {  // Monday first (2024-01-01 was a Monday)
        var h = document.createElement("span"); h.className = "dp-wd";
        h.textContent = wd.format(new Date(2024, 0, 1 + i)); grid.appendChild(h);
      }
      for (var b = 0; b < (view.getDay() + 6) % 7; b++) grid.appendChild(document.createElement("span"));
      var days = new Date(view.getFullYear(), view.getMonth() + 1, 0).getDate();
      for (var dnum = 1; dnum <= days; dnum++) {
        var day = new Date(view.getFullYear(), view.getMonth(), dnum);
        var btn = document.createElement("button");
        btn.type = "button"; btn.className = "dp-day"; btn.textContent = dnum;
        btn.setAttribute("data-day", iso(day));
        if (iso(day) === iso(cur) && input.value) btn.classList.add("selected");
        btn.onclick = (function (d) { return function () { pick(d); }; })(day);
        grid.appendChild(btn);
      }
      box.appendChild(grid);
      if (kind === "datetime") {
        var time = document.createElement("div");
        time.className = "dp-time";
        var hours = [], mins = [];
        for (var x = 0; x < 24; x++) hours.push(x);
        for (var y = 0; y < 60; y += 5) mins.push(y);
        var hs = select(hours, cur.getHours(), zh() ? "时" : "Hour");
        var ms = select(mins, cur.getMinutes() - cur.getMinutes() % 5, zh() ? "分" : "Minute");
        hs.onchange = function () { cur.setHours(+hs.value); };
        ms.onchange = function () { cur.setMinutes(+ms.value); };
        var lab = document.createElement("span");
        lab.className = "muted";
        lab.textContent = zh() ? "时间" : "Time";
        time.append(lab, hs, document.createTextNode(":"), ms);
        box.appendChild(time);
      }
    }
    render();
    document.body.appendChild(box);
    var r = input.getBoundingClientRect();
    box.style.left = (r.left + window.scrollX) + "px";
    box.style.top = (r.bottom + window.scrollY + 4) + "px";
  }
  document.addEventListener("focusin", function (evt) {
    var el = evt.target;
    if (el.matches && el.matches("input[data-date]")) show(el);
  });
  document.addEventListener("mousedown", function (evt) {
    if (open && !open.box.contains(evt.target) && evt.target !== open.input) close();
  });
  document.addEventListener("keydown", function (evt) { if (evt.key === "Escape") close(); });
})();
