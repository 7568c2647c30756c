/* Kiro2API: a tiny canvas line / stacked-area chart. Our own code, no library, works offline.
 *
 * KiroCharts.draw(canvas, {times, series: [{name, values}], format, stacked, minMax, capMax})
 *   times   bucket start times (epoch seconds), one per value
 *   values  numbers or null (a gap: nothing is drawn for an empty bucket)
 * The canvas gets data-points (non-null points drawn) and data-total (their sum), which tests read.
 */
(function (global) {
  "use strict";

  var PALETTE = ["#3e63dd", "#f5a524", "#e5484d", "#30a46c", "#8e4ec6", "#12a594", "#d6409f", "#978365", "#8b8d98"];
  var PAD = { left: 52, right: 12, top: 10, bottom: 24 };

  // The axis top: four grid steps of 1, 2 or 5 times a power of ten, so labels stay round.
  function niceMax(v) {
    if (!(v > 0)) return 4;
    var step = v / 4;
    var e = Math.pow(10, Math.floor(Math.log10(step)));
    var f = step / e;
    var n = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return 4 * n * e;
  }

  function defaultFormat(v) {
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
    if (a >= 10) return v.toFixed(0);
    if (a >= 1) return String(Math.round(v * 10) / 10);
    return String(Math.round(v * 1000) / 1000);
  }

  function clock(t) {
    var d = new Date(t * 1000);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  function stackedValues(series) {
    var sums = [];
    return series.map(function (s) {
      return s.values.map(function (v, i) {
        var base = sums[i] || 0;
        var top = base + (v == null ? 0 : v);
        sums[i] = top;
        return { base: base, top: top, empty: v == null };
      });
    });
  }

  function draw(canvas, opts) {
    var times = opts.times || [];
    var series = opts.series || [];
    var fmt = opts.format || defaultFormat;
    var dpr = global.devicePixelRatio || 1;
    var w = canvas.clientWidth || canvas.width;
    var h = canvas.clientHeight || canvas.height;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);

    var stacks = opts.stacked ? stackedValues(series) : null;
    var max = opts.minMax || 0;
    var points = 0;
    var total = 0;
    series.forEach(function (s, si) {
      s.values.forEach(function (v, i) {
        if (v == null) return;
        points += 1;
        total += v;
        var top = stacks ? stacks[si][i].top : v;
        if (top > max) max = top;
      });
    });
    max = niceMax(max);
    if (opts.capMax && max > opts.capMax) max = opts.capMax;

    var x0 = PAD.left, x1 = w - PAD.right, y0 = h - PAD.bottom, y1 = PAD.top;
    var n = Math.max(times.length, 1);
    function X(i) { return n === 1 ? x0 : x0 + (i / (n - 1)) * (x1 - x0); }
    function Y(v) { return y0 - (v / max) * (y0 - y1); }

    // grid and y labels
    ctx.font = "11px 'DejaVu Sans', sans-serif";
    ctx.textBaseline = "middle";
    ctx.lineWidth = 1;
    for (var g = 0; g <= 4; g++) {
      var gv = (max * g) / 4;
      var gy = Math.round(Y(gv)) + 0.5;
      ctx.strokeStyle = g === 0 ? "#c8cad3" : "#eceef2";
      ctx.beginPath(); ctx.moveTo(x0, gy); ctx.lineTo(x1, gy); ctx.stroke();
      ctx.fillStyle = "#60646c";
      ctx.textAlign = "right";
      ctx.fillText(fmt(gv), x0 - 6, gy);
    }
    // x labels every 10 minutes
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (var i = 0; i < times.length; i++) {
      if (times[i] % 600 === 0) {
        var lx = X(i);
        ctx.strokeStyle = "#eceef2";
        ctx.beginPath(); ctx.moveTo(Math.round(lx) + 0.5, y1); ctx.lineTo(Math.round(lx) + 0.5, y0); ctx.stroke();
        ctx.fillStyle = "#60646c";
        ctx.fillText(clock(times[i]), lx, y0 + 6);
      }
    }

    series.forEach(function (s, si) {
      var color = s.color || PALETTE[si % PALETTE.length];
      if (stacks) {
        var st = stacks[si];
        ctx.fillStyle = color + "55";
        ctx.strokeStyle = color;
        ctx.beginPath();
        st.forEach(function (p, j) { if (j === 0) ctx.moveTo(X(j), Y(p.top)); else ctx.lineTo(X(j), Y(p.top)); });
        for (var k = st.length - 1; k >= 0; k--) ctx.lineTo(X(k), Y(st[k].base));
        ctx.closePath();
        ctx.fill();
        ctx.beginPath();
        st.forEach(function (p, j) { if (j === 0) ctx.moveTo(X(j), Y(p.top)); else ctx.lineTo(X(j), Y(p.top)); });
        ctx.lineWidth = 1.25;
        ctx.stroke();
        return;
      }
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.75;
      ctx.lineJoin = "round";
      ctx.beginPath();
      var drawing = false;
      var lone = [];
      s.values.forEach(function (v, j) {
        if (v == null) { drawing = false; return; }
        var prevEmpty = j === 0 || s.values[j - 1] == null;
        var nextEmpty = j === s.values.length - 1 || s.values[j + 1] == null;
        if (prevEmpty && nextEmpty) lone.push([X(j), Y(v)]);
        if (!drawing) { ctx.moveTo(X(j), Y(v)); drawing = true; } else { ctx.lineTo(X(j), Y(v)); }
      });
      ctx.stroke();
      ctx.fillStyle = color;
      lone.forEach(function (p) { ctx.beginPath(); ctx.arc(p[0], p[1], 2.5, 0, Math.PI * 2); ctx.fill(); });
    });

    if (points === 0) {
      ctx.fillStyle = "#8b8d98";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.font = "12px 'DejaVu Sans', sans-serif";
      ctx.fillText("no traffic in the last hour", (x0 + x1) / 2, (y0 + y1) / 2);
    }
    canvas.dataset.points = String(points);
    canvas.dataset.total = String(Math.round(total * 1000) / 1000);
  }

  function legend(el, series) {
    if (!el) return;
    el.textContent = "";
    series.forEach(function (s, i) {
      var item = document.createElement("span");
      var sw = document.createElement("span");
      sw.className = "swatch c" + (i % PALETTE.length);
      item.appendChild(sw);
      item.appendChild(document.createTextNode(s.label || s.name));
      el.appendChild(item);
    });
  }

  global.KiroCharts = { draw: draw, legend: legend, palette: PALETTE, format: defaultFormat };
})(window);
