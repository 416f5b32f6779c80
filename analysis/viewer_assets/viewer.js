/* lexkit token viewer: renders the embedded runs and encodes typed text with the embedded byte-level BPE models.
   Data: the JSON in <script class="lkv-data"> next to each .lkv root (written by lexkit.analysis.viewer). */
(function () {
  "use strict";
  var utf8 = new TextEncoder();
  var strict = new TextDecoder("utf-8", {fatal: true});
  var lossy = new TextDecoder("utf-8");
  var COLOURS = 5;
  var tip = null;

  function b64(text) {
    var bin = atob(text), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function hex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join(" ");
  }
  function decodes(bytes) { try { strict.decode(bytes); return true; } catch (e) { return false; } }
  // A one-to-one bytes -> string key (one code point per byte).
  function latin1(bytes, start, end) { return String.fromCharCode.apply(null, bytes.subarray(start, end)); }
  function concat(parts) {
    var size = 0, at = 0;
    parts.forEach(function (p) { size += p.length; });
    var out = new Uint8Array(size);
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }

  // ---------------------------------------------------------------------------------------------- page encoders
  function buildModel(spec) {
    var model = {
      stages: spec.stages.map(function (s) {
        return s.split !== undefined ? {split: new RegExp(s.split, "gu")}
          : {prefix: s.bytes, regex: s.regex === null ? null : new RegExp(s.regex, "gu")};
      }),
      byteIds: spec.byteIds, wholeFirst: spec.wholeFirst, mode: spec.mode, cache: new Map(),
      expansions: new Map(Object.keys(spec.expansions).map(function (k) { return [Number(k), spec.expansions[k]]; }))
    };
    var data = b64(spec.table);
    if (spec.mode === "merges") {
      var n = data.length / 9, ranks = new Map(), results = new Int32Array(n);
      for (var r = 0; r < n; r++) {
        var o = r * 9;
        var a = data[o] | data[o + 1] << 8 | data[o + 2] << 16;
        var b = data[o + 3] | data[o + 4] << 8 | data[o + 5] << 16;
        var key = a * 16777216 + b;
        if (!ranks.has(key)) ranks.set(key, r);
        results[r] = data[o + 6] | data[o + 7] << 8 | data[o + 8] << 16;
      }
      model.ranks = ranks;
      model.results = results;
    } else {
      var ids = new Map(), at = 0, id = 0;
      while (at < data.length) {
        var len = data[at++];
        if (len) ids.set(latin1(data, at, at + len), id);
        at += len;
        id++;
      }
      model.ids = ids;
    }
    return model;
  }

  function splitIsolated(re, text) {
    var out = [], last = 0, m;
    re.lastIndex = 0;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) out.push(text.slice(last, m.index));
      if (m[0].length) out.push(m[0]);
      last = m.index + m[0].length;
      if (!m[0].length) re.lastIndex += (text.codePointAt(re.lastIndex) > 0xffff ? 2 : 1);
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }

  function preTokenize(model, text) {
    var pieces = text ? [text] : [];
    model.stages.forEach(function (stage) {
      var next = [];
      pieces.forEach(function (piece) {
        if (stage.split) { next.push.apply(next, splitIsolated(stage.split, piece)); return; }
        if (stage.prefix && piece[0] !== " ") piece = " " + piece;
        if (stage.regex) next.push.apply(next, splitIsolated(stage.regex, piece)); else next.push(piece);
      });
      pieces = next;
    });
    return pieces;
  }

  // HF merge-list BPE: the lowest-ranked adjacent pair first, leftmost among equals.
  function mergeBpe(model, bytes) {
    var ids = Array.prototype.map.call(bytes, function (b) { return model.byteIds[b]; });
    var lens = Array.prototype.map.call(bytes, function () { return 1; });
    for (;;) {
      var best = -1, at = -1;
      for (var i = 0; i + 1 < ids.length; i++) {
        var rank = model.ranks.get(ids[i] * 16777216 + ids[i + 1]);
        if (rank !== undefined && (best < 0 || rank < best)) { best = rank; at = i; }
      }
      if (best < 0) break;
      ids.splice(at, 2, model.results[best]);
      lens.splice(at, 2, lens[at] + lens[at + 1]);
    }
    return [ids, lens];
  }

  // tiktoken: the adjacent pair whose concatenation has the lowest rank first; a pre-token that is a token stays whole.
  function rankBpe(model, bytes) {
    var whole = model.ids.get(latin1(bytes, 0, bytes.length));
    if (whole !== undefined) return [[whole], [bytes.length]];
    var starts = [];
    for (var i = 0; i <= bytes.length; i++) starts.push(i);
    for (;;) {
      var best = -1, at = -1;
      for (var j = 0; j + 2 < starts.length; j++) {
        var rank = model.ids.get(latin1(bytes, starts[j], starts[j + 2]));
        if (rank !== undefined && (best < 0 || rank < best)) { best = rank; at = j; }
      }
      if (best < 0) break;
      starts.splice(at + 1, 1);
    }
    var ids = [], lens = [];
    for (var k = 0; k + 1 < starts.length; k++) {
      ids.push(model.ids.get(latin1(bytes, starts[k], starts[k + 1])));
      lens.push(starts[k + 1] - starts[k]);
    }
    return [ids, lens];
  }

  // -> [{id, bytes, scaffold}] for ordinary text (special-token text is encoded as ordinary text).
  function encode(model, text) {
    var out = [];
    preTokenize(model, text).forEach(function (piece) {
      var bytes = utf8.encode(piece), cached = model.cache.get(piece);
      if (!cached) {
        cached = model.mode === "ranks" ? rankBpe(model, bytes) : mergeBpe(model, bytes);
        if (model.cache.size < 50000) model.cache.set(piece, cached);
      }
      var at = 0;
      cached[0].forEach(function (id, i) {
        var chunk = bytes.subarray(at, at + cached[1][i]);
        at += cached[1][i];
        var pieces = model.expansions.get(id);
        if (!pieces) { out.push({id: id, bytes: chunk}); return; }
        // Scaffold-BPE: the scaffold token is demolished into its pieces; their lengths come from the byte tokens.
        var off = 0;
        pieces.forEach(function (p) {  // [piece id, its length in bytes]
          out.push({id: p[0], bytes: chunk.subarray(off, off + p[1]), scaffold: id});
          off += p[1];
        });
      });
    });
    return out;
  }

  // ---------------------------------------------------------------------------------------------------- rendering
  function addText(span, text) {
    var run = "";
    function flush() { if (run) { span.appendChild(document.createTextNode(run)); run = ""; } }
    for (var i = 0; i < text.length; i++) {
      var c = text[i], cls = c === " " ? "lkv-sp" : c === "\n" ? "lkv-nl" : c === "\t" ? "lkv-tb" : c === "\r" ? "lkv-cr" : "";
      if (!cls) { run += c; continue; }
      flush();
      var ws = document.createElement("span");
      ws.className = "lkv-ws " + cls;
      ws.textContent = c;
      span.appendChild(ws);
    }
    flush();
  }

  function describe(info, token) {
    var id = token.id, kind = info.kinds[id] || "normal", bytes = token.bytes;
    var shown = decodes(bytes) ? JSON.stringify(lossy.decode(bytes)) : "bytes " + hex(bytes) + " (not valid UTF-8)";
    var line = "id " + id + " \u00b7 " + kind + " \u00b7 " + bytes.length + " byte" + (bytes.length === 1 ? "" : "s") +
      "\n" + shown;
    if (token.scaffold !== undefined) {
      line += "\nfrom scaffold token " + token.scaffold + (info.notes[token.scaffold] ? " " + info.notes[token.scaffold] : "") +
        " (demolished into its pieces)";
    }
    if (info.notes[id]) line += "\n" + info.notes[id];
    return line;
  }

  function makeSpan(info, group, text, colour, hold) {
    var span = document.createElement("span"), cls = "lkv-tok lkv-c" + colour;
    if (group.length > 1) cls += " lkv-multi";
    if (group.some(function (t) { return t.scaffold !== undefined; })) cls += " lkv-scf";
    group.forEach(function (t) {
      var role = info.roles[t.id];
      if (role) cls += " lkv-" + role;
      if (info.kinds[t.id] === "special") cls += " lkv-special";
    });
    span.className = cls;
    span.dataset.ids = group.map(function (t) { return t.id; }).join(" ");
    addText(span, text);
    hold.set(span, group);
    return span;
  }

  // Renders tokens into `target`; returns true when their bytes are exactly the text (spans then tile it).
  function renderRun(target, info, text, tokens, hold) {
    target.textContent = "";
    var all = utf8.encode(text), joined = concat(tokens.map(function (t) { return t.bytes; }));
    var exact = joined.length === all.length && joined.every(function (b, i) { return b === all[i]; });
    var frag = document.createDocumentFragment(), colour = 0;
    if (exact) {
      var at = 0, start = 0, group = [];
      tokens.forEach(function (t) {
        group.push(t);
        at += t.bytes.length;
        if (at === all.length || (all[at] & 0xc0) !== 0x80) {  // a character boundary: close the group
          frag.appendChild(makeSpan(info, group, lossy.decode(all.subarray(start, at)), colour++ % COLOURS, hold));
          group = [];
          start = at;
        }
      });
    } else {
      tokens.forEach(function (t) {
        var shown = decodes(t.bytes) ? lossy.decode(t.bytes) : "<" + hex(t.bytes) + ">";
        frag.appendChild(makeSpan(info, [t], shown, colour++ % COLOURS, hold));
      });
    }
    target.appendChild(frag);
    target.dataset.exact = exact ? "1" : "0";
    return exact;
  }

  function summary(text, tokens) {
    var size = utf8.encode(text).length, n = tokens.length;
    return n.toLocaleString("en") + " tokens \u00b7 " + (n ? (size / n).toFixed(2) : "\u2013") + " bytes/token";
  }

  function cell(info, extra) {
    var div = document.createElement("div");
    div.className = "lkv-cell";
    div.dataset.tokenizer = info.name;
    var head = document.createElement("div");
    head.className = "lkv-head";
    var name = document.createElement("span");
    name.className = "lkv-name";
    name.textContent = info.name;
    var sum = document.createElement("span");
    sum.className = "lkv-sum";
    head.appendChild(name);
    head.appendChild(sum);
    if (extra) {
      var why = document.createElement("span");
      why.className = "lkv-why";
      why.textContent = extra;
      head.appendChild(why);
    }
    var run = document.createElement("pre");
    run.className = "lkv-run";
    div.appendChild(head);
    div.appendChild(run);
    return {div: div, sum: sum, run: run};
  }

  function tokensOf(entry, text) {
    var all = utf8.encode(text), at = 0;
    return entry.tokens.map(function (t) {
      var bytes;
      if (entry.exact) { bytes = all.subarray(at, at + t[1]); at += t[1]; } else { bytes = b64(t[1]); }
      var token = {id: t[0], bytes: bytes};
      if (t.length > 2) token.scaffold = t[2];
      return token;
    });
  }

  // ------------------------------------------------------------------------------------------------ visual grids
  // A visual tokenizer's sample grids: every cell shows its code, coloured by the token that covers it, with a
  // border where the token changes. vhold: grid element -> {entry, grid, owner (cell -> token index)}.
  function renderVisual(target, entry, vhold) {
    var section = document.createElement("section");
    section.className = "lkv-vsection";
    var title = document.createElement("h3");
    title.textContent = entry.name + " \u00b7 visual tokens on code grids (codebook " + entry.codebook + ", " +
      entry.vocab.toLocaleString("en") + " tokens)";
    var row = document.createElement("div");
    row.className = "lkv-vgrids";
    entry.grids.forEach(function (g) {
      var h = g.shape[0], w = g.shape[1], owner = new Int32Array(h * w).fill(-1);
      g.tokens.forEach(function (t, n) {
        var p = entry.patches[t[0]];
        p.rows.forEach(function (cells, dy) {
          cells.forEach(function (code, x) {
            if (code !== null) owner[(t[1] + dy) * w + t[2] + x - p.anchor] = n;
          });
        });
      });
      var c = cell({name: entry.name}, "");
      c.div.querySelector(".lkv-name").textContent += " \u00b7 " + g.label;
      c.sum.textContent = g.tokens.length + " tokens \u00b7 " + (h * w / g.tokens.length).toFixed(2) + " cells/token";
      var table = document.createElement("div");
      table.className = "lkv-vgrid";
      table.style.gridTemplateColumns = "repeat(" + w + ", 1.7em)";
      for (var i = 0; i < h * w; i++) {
        var n = owner[i], y = Math.floor(i / w), x = i % w, span = document.createElement("span");
        span.className = "lkv-gc lkv-c" + (n % COLOURS) +
          (x + 1 < w && owner[i + 1] !== n ? " lkv-br" : "") + (y + 1 < h && owner[i + w] !== n ? " lkv-bb" : "");
        span.textContent = g.codes[i];
        span.dataset.token = n;
        span.dataset.id = g.tokens[n][0];
        table.appendChild(span);
      }
      c.run.replaceWith(table);
      vhold.set(table, {entry: entry, grid: g, owner: owner});
      row.appendChild(c.div);
    });
    section.appendChild(title);
    section.appendChild(row);
    target.appendChild(section);
  }

  // The tip of a visual token: its id, shape and anchor, then its patch drawn as a small grid of codes.
  function showPatch(gc, vhold) {
    var table = gc.parentNode, held = vhold.get(table), n = Number(gc.dataset.token);
    var t = held.grid.tokens[n], p = held.entry.patches[t[0]];
    table.querySelectorAll(".lkv-hot").forEach(function (e) { e.classList.remove("lkv-hot"); });
    table.querySelectorAll(".lkv-gc[data-token='" + n + "']").forEach(function (e) { e.classList.add("lkv-hot"); });
    tip.textContent = "id " + t[0] + " \u00b7 visual token \u00b7 patch " + p.h + " x " + p.w + ", " + p.cells +
      " cell" + (p.cells === 1 ? "" : "s") + "\nanchor row " + t[1] + ", column " + t[2] + "\n";
    var patch = document.createElement("div");
    patch.className = "lkv-patch";
    patch.dataset.shape = p.h + " " + p.w;
    patch.style.gridTemplateColumns = "repeat(" + p.w + ", 1.7em)";
    p.rows.forEach(function (cells) {
      cells.forEach(function (code) {
        var e = document.createElement("span");
        e.className = code === null ? "lkv-pe" : "lkv-pc";
        e.textContent = code === null ? "" : code;
        patch.appendChild(e);
      });
    });
    tip.appendChild(patch);
    return gc;
  }

  function showTip(event, hold, vhold) {
    var gc = event.target.closest && event.target.closest(".lkv-gc");
    var span = gc ? null : event.target.closest && event.target.closest(".lkv-tok");
    if (gc && vhold.has(gc.parentNode)) {
      span = showPatch(gc, vhold);
    } else if (!span || !hold.has(span)) {
      tip.style.display = "none";
      return;
    } else {
      var root = span.closest(".lkv"), info = root.lkvInfo[span.closest(".lkv-cell").dataset.tokenizer];
      tip.textContent = hold.get(span).map(function (t) { return describe(info, t); }).join("\n\u2014\n");
    }
    tip.style.display = "block";
    var box = span.getBoundingClientRect();
    tip.style.left = Math.max(4, Math.min(box.left, window.innerWidth - tip.offsetWidth - 8)) + "px";
    var below = box.bottom + 6;
    tip.style.top = (below + tip.offsetHeight > window.innerHeight ? box.top - tip.offsetHeight - 6 : below) + "px";
  }

  function setup(root) {
    if (root.dataset.setup) return;  // a page holding two fragments runs this script twice
    root.dataset.setup = "1";
    var started = performance.now();
    var data = JSON.parse(root.querySelector("script.lkv-data").textContent);
    var hold = new WeakMap(), vhold = new WeakMap();
    root.lkvInfo = {};
    data.tokenizers.forEach(function (info) { root.lkvInfo[info.name] = info; });
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "lkv-tip";
      document.body.appendChild(tip);
    }
    root.addEventListener("mouseover", function (e) { showTip(e, hold, vhold); });
    root.addEventListener("mouseleave", function () { tip.style.display = "none"; });

    var passages = root.querySelector(".lkv-passages");
    data.passages.forEach(function (passage) {
      var section = document.createElement("section");
      section.className = "lkv-passage";
      var title = document.createElement("h3");
      title.textContent = passage.label;
      var grid = document.createElement("div");
      grid.className = "lkv-grid";
      data.tokenizers.forEach(function (info, i) {
        var entry = passage.runs[i], tokens = tokensOf(entry, passage.text);
        var c = cell(info, entry.exact ? "" : "tokens shown as their own bytes: the pipeline changes the text");
        c.sum.textContent = summary(passage.text, tokens);
        renderRun(c.run, info, passage.text, tokens, hold);
        grid.appendChild(c.div);
      });
      section.appendChild(title);
      section.appendChild(grid);
      passages.appendChild(section);
    });

    var visual = root.querySelector(".lkv-visual");
    (data.visual || []).forEach(function (entry) { renderVisual(visual, entry, vhold); });

    var box = root.querySelector(".lkv-box textarea"), grid = root.querySelector(".lkv-live"), cells = [];
    data.tokenizers.forEach(function (info) {
      var c = cell(info, info.live ? "" : "not run in this page: " + info.why);
      c.info = info;
      if (!info.live) c.div.dataset.live = "0"; else c.div.dataset.live = "1";
      grid.appendChild(c.div);
      cells.push(c);
    });
    var timer = null;
    function update() {
      var text = box.value;
      cells.forEach(function (c) {
        if (!c.info.live) return;
        if (c.failed) return;
        try {
          if (!c.model) {
            var t0 = performance.now();
            c.model = buildModel(c.info.live);
            c.div.dataset.buildMs = (performance.now() - t0).toFixed(1);
          }
          var tokens = encode(c.model, text);
        } catch (error) {  // say so in the page rather than show a wrong cut
          c.failed = true;
          c.div.dataset.live = "0";
          c.run.textContent = "";
          c.sum.textContent = "could not run in this browser: " + error.message;
          return;
        }
        c.sum.textContent = summary(text, tokens);
        renderRun(c.run, c.info, text, tokens, hold);
      });
      root.dataset.liveText = text;
    }
    box.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(update, 120); });
    root.lkvUpdate = update;
    root.dataset.renderMs = (performance.now() - started).toFixed(1);
    root.dataset.ready = "1";
  }

  function start() { document.querySelectorAll(".lkv").forEach(setup); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
