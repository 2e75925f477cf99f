// kspan report renderer: draws the JSON document embedded in #kspan-data (written by
// crates/output/src/report) into the page's sections. No library, no network.
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("kspan-data").textContent);
  const SVG_NS = "http://www.w3.org/2000/svg";
  // The kernel states of a span's time, in the order they are drawn.
  const STATES = [
    ["cpu", "cpu"],
    ["runnable", "run queue"],
    ["net", "net"],
    ["io", "disk/io"],
    ["futex", "locks"],
    ["other", "other"],
  ];

  // An element with attributes (`text` sets its text) and children (strings or nodes).
  function h(tag, attrs, children) {
    const node = document.createElement(tag);
    setAll(node, attrs, children);
    return node;
  }

  // The same in SVG.
  function svg(tag, attrs, children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAll(node, attrs, children);
    return node;
  }

  function setAll(node, attrs, children) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children || []) {
      node.append(child);
    }
  }

  // A duration in ns, with a unit suited to its size (as the tree output writes it).
  function ns(value) {
    if (value < 1e4) return value + "ns";
    if (value < 1e7) return (value / 1e3).toFixed(1) + "µs";
    if (value < 1e10) return (value / 1e6).toFixed(3) + "ms";
    return (value / 1e9).toFixed(3) + "s";
  }

  function bytes(value) {
    if (value < 1024) return value + "B";
    if (value < 1048576) return (value / 1024).toFixed(1) + "KiB";
    return (value / 1048576).toFixed(1) + "MiB";
  }

  // A stable colour per service.
  function colour(service) {
    let hash = 0;
    for (const c of service) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
    return "hsl(" + (hash % 360) + ", 55%, 52%)";
  }

  // A bar split by kernel state, each part proportional to its share of the states' total.
  function timeBar(time) {
    const total = STATES.reduce((sum, [key]) => sum + time[key], 0);
    const bar = h("div", { class: "timebar" });
    for (const [key, label] of STATES) {
      if (time[key] === 0) continue;
      const share = (100 * time[key]) / total;
      bar.append(h("span", {
        class: "state-" + key,
        style: "width:" + share + "%",
        title: label + " " + ns(time[key]) + " (" + share.toFixed(0) + "%)",
      }));
    }
    return bar;
  }

  function legend() {
    return h("p", { class: "legend" }, STATES.map(([key, label]) =>
      h("span", {}, [h("i", { class: "state-" + key }), label])));
  }

  function table(headers, rows) {
    return h("table", {}, [
      h("thead", {}, [h("tr", {}, headers.map((text) => h("th", { text })))]),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) =>
        typeof cell === "string" ? h("td", { text: cell }) : h("td", {}, [cell]))))),
    ]);
  }

  function overview() {
    const c = data.caveats;
    document.getElementById("source").textContent = data.title;
    const first = Math.min(...data.traces.map((t) => t.start_unix_ns / 1e6));
    const when = isFinite(first) ? ", the first at " + new Date(first).toISOString() : "";
    document.getElementById("overview").textContent =
      c.traces + " traces, " + c.spans + " spans from " + c.events + " kernel events; " +
      "the " + data.traces.length + " slowest are drawn below" + when + ". " + data.generator + ".";
  }

  function caveats() {
    const c = data.caveats;
    const f = c.flags;
    const section = document.getElementById("caveats");
    const items = c.warnings.map((w) => h("li", { class: "warning", text: w }));
    const links = c.links.reduce((sum, l) => sum + l.count, 0);
    const unsure = c.links.reduce((sum, l) => sum + l.unsure, 0);
    items.push(h("li", {
      text: unsure + " of " + links + " links between spans are unsure (confidence below 0.9): " +
        "their span may belong to another request.",
    }));
    items.push(h("li", { text: f.client_roots + " traces start with a call: no request was found for it (an orphan), or a traced client made it." }));
    items.push(h("li", { text: f.partial + " spans are partial (in flight at the recording's start or end, or missing events); " + f.errors + " failed." }));
    items.push(h("li", { text: c.unattributed_events + " events of traced threads fell in no span." }));
    for (const [text, count] of c.engine) {
      items.push(h("li", { text: text + " (" + count + "×)" }));
    }
    section.append(h("ul", {}, items));
    if (c.links.length > 0) {
      section.append(h("details", {}, [
        h("summary", { text: "Links by evidence" }),
        table(["evidence", "links", "unsure"], c.links.map((l) =>
          [l.evidence, String(l.count), String(l.unsure)])),
      ]));
    }
  }

  // Columns by the longest chain of calls from the callers kspan did not trace (or from
  // services nobody calls), so that every arrow points right but in a cycle; a column's
  // services one above another.
  function layout(nodes, edges) {
    const callees = new Set(edges.map((e) => e.to));
    const layer = new Map();
    const sources = nodes.map((n) => n.name).filter((n) => n === "clients" || !callees.has(n));
    (sources.length > 0 ? sources : nodes.slice(0, 1).map((n) => n.name)).forEach((n) => layer.set(n, 0));
    // Relaxed at most once per service, so that a cycle of calls cannot push it on forever.
    for (let round = 0; round < nodes.length; round++) {
      for (const e of edges) {
        if (e.from !== e.to && layer.has(e.from) && !(layer.get(e.to) > layer.get(e.from))) {
          layer.set(e.to, Math.min(layer.get(e.from) + 1, nodes.length - 1));
        }
      }
    }
    // Each column's services in the mean order of their callers, to cross fewer arrows.
    const columns = [];
    for (const n of nodes) {
      const column = layer.has(n.name) ? layer.get(n.name) : 0;
      (columns[column] = columns[column] || []).push(n.name);
    }
    const place = new Map();
    columns.forEach((names, column) => {
      const rank = (name) => {
        const callers = edges.filter((e) => e.to === name && place.has(e.from)).map((e) => place.get(e.from).y);
        return callers.length ? callers.reduce((a, b) => a + b, 0) / callers.length : -1;
      };
      names.sort((a, b) => rank(a) - rank(b))
        .forEach((name, row) => place.set(name, { x: 20 + column * 230, y: 20 + row * 60 }));
    });
    const tallest = Math.max(0, ...columns.filter(Boolean).map((c) => c.length));
    return { place, width: columns.length * 230, height: 20 + tallest * 60 };
  }

  // The curve of a call from the box at `a` to the box at `b` (W × H): right side to left
  // side, or a loop over the box for a service calling itself.
  function edgePath(a, b, W, H) {
    if (a === b) {
      const x1 = a.x + W - 50, y1 = a.y, x2 = a.x + W, y2 = a.y + H / 2;
      return "M" + x1 + "," + y1 + " C" + x1 + "," + (y1 - 30) + " " + (x2 + 30) + "," + y2 + " " + x2 + "," + y2;
    }
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
    const bend = Math.max(40, Math.abs(x2 - x1) / 2);
    return "M" + x1 + "," + y1 + " C" + (x1 + bend) + "," + y1 + " " + (x2 - bend) + "," + y2 + " " + x2 + "," + y2;
  }

  function serviceMap() {
    const { nodes, edges } = data.services;
    const section = document.getElementById("service-map");
    const { place, width, height } = layout(nodes, edges);
    const map = svg("svg", { width, height, viewBox: "0 0 " + width + " " + height, class: "map" }, [
      svg("defs", {}, [svg("marker", {
        id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, markerUnits: "userSpaceOnUse", orient: "auto",
      }, [svg("path", { d: "M0,0 L10,5 L0,10 z" })])]),
    ]);
    const W = 160, H = 38;
    for (const e of edges) {
      const d = edgePath(place.get(e.from), place.get(e.to), W, H);
      map.append(svg("path", { class: "edge", "marker-end": "url(#arrow)", d,
        style: "stroke-width:" + (1 + 1.2 * Math.log10(1 + e.latency.count)).toFixed(1) }, [
        svg("title", { text: e.from + " → " + e.to + ": " + e.latency.count + " calls, p50 " + ns(e.latency.p50) + ", p99 " + ns(e.latency.p99) }),
      ]));
    }
    for (const n of nodes) {
      const p = place.get(n.name);
      map.append(svg("g", { class: "node" + (n.served === 0 ? " untraced" : "") }, [
        svg("rect", { x: p.x, y: p.y, width: W, height: H, rx: 6, style: "stroke:" + colour(n.name) }),
        svg("text", { x: p.x + 8, y: p.y + 16, class: "node-name", text: n.name }),
        svg("text", { x: p.x + 8, y: p.y + 31, class: "node-info",
          text: n.served > 0 ? n.served + " requests served" : n.name === "clients" ? "not traced" : "not traced (peer address)" }),
      ]));
    }
    section.append(h("p", { text: "Callers on the left; an arrow per caller and callee, thicker for more calls (hover it for its count and latency, all in the table)." }));
    section.append(h("div", { class: "map-layout" }, [h("div", { class: "scroll" }, [map]), table(["caller", "callee", "calls", "p50", "p90", "p99", "max"], edges.map((e) => [
      e.from, e.to, String(e.latency.count), ns(e.latency.p50), ns(e.latency.p90), ns(e.latency.p99), ns(e.latency.max),
    ]))]));
  }

  function endpoints() {
    const section = document.getElementById("endpoints");
    section.append(h("p", { text: "Spans grouped by service, kind and name, slowest p99 first; where the time went is the mean per span." }));
    section.append(legend());
    section.append(h("div", { class: "scroll" }, [table(
      ["service", "kind", "name", "spans", "errors", "p50", "p90", "p99", "max"]
        .concat(STATES.map(([, label]) => label), ["where the time went"]),
      data.endpoints.map((e) => [e.service, e.kind, e.name, String(e.latency.count), String(e.errors),
        ns(e.latency.p50), ns(e.latency.p90), ns(e.latency.p99), ns(e.latency.max)]
        .concat(STATES.map(([key]) => ns(e.mean[key])), [timeBar(e.mean)])),
    )]));
  }

  // The panel a click on a span fills.
  const panel = h("aside", { id: "span-detail" }, [h("p", { class: "hint", text: "Click a span to see its thread, link and kernel breakdown." })]);

  function select(trace, span, row) {
    document.querySelectorAll(".span-row.selected").forEach((r) => r.classList.remove("selected"));
    row.classList.add("selected");
    history.replaceState(null, "", "#span=" + span.id);
    const link = span.link
      ? span.link.evidence + ", confidence " + span.link.confidence.toFixed(2) + ", " +
        span.link.candidates + " candidate" + (span.link.candidates === 1 ? "" : "s")
      : "none (the trace's root)";
    const facts = [
      ["service", span.service],
      ["kind", span.kind],
      ["process", "pid " + span.pid],
      ["thread", "tid " + span.tid],
      ["threads", span.threads.join(", ")],
      ["start", "+" + ns(span.offset) + " after the root"],
      ["duration", ns(span.duration)],
      ["peer", span.peer || "unknown"],
      ["link", link],
      ["span id", span.id],
      ["trace id", trace.id],
    ];
    if (span.partial) facts.push(["partial", "in flight at the recording's edge, or events lost"]);
    if (span.error) facts.push(["error", span.error]);
    const t = span.time;
    const children = [
      h("h3", { text: span.name }),
      h("dl", {}, facts.flatMap(([term, value]) => [h("dt", { text: term }), h("dd", { text: value, class: "fact-" + term.replace(" ", "-") })])),
      h("h4", { text: "Kernel breakdown" }),
      timeBar(t),
      table(["state", "time"], STATES.map(([key, label]) => [label, ns(t[key])])
        .concat([["bytes in", bytes(t.bytes_in)], ["bytes out", bytes(t.bytes_out)]])),
    ];
    if (span.events.length > 0) {
      children.push(h("h4", { text: "Other events" }), table(["event", "count"], span.events.map(([name, n]) => [name, String(n)])));
    }
    if (span.sums.length > 0) {
      children.push(h("h4", { text: "Sums" }), table(["field", "sum"], span.sums.map(([name, n]) => [name, String(n)])));
    }
    panel.replaceChildren(...children);
  }

  function axis(duration) {
    return h("div", { class: "axis" }, [h("div", { class: "label" }), h("div", { class: "lane" },
      [0, 0.25, 0.5, 0.75, 1].map((q) => h("span", { style: "left:" + q * 100 + "%", text: ns(Math.round(q * duration)) })))]);
  }

  // A span's duration beside its bar: after it when there is room, else before it, else
  // inside its end.
  function durationLabel(duration, left, width) {
    const [place, style] = left + width <= 80 ? ["after", "left:" + (left + width) + "%"]
      : left >= 20 ? ["before", "right:" + (100 - left) + "%"]
      : ["inside", "right:" + (100 - left - width) + "%"];
    return h("span", { class: "duration " + place, style, text: ns(duration) });
  }

  function waterfall(trace) {
    const rows = [axis(trace.duration)];
    const scale = Math.max(1, trace.duration);
    for (const span of trace.spans) {
      const left = Math.min(100, (100 * span.offset) / scale);
      const width = Math.max(0.3, Math.min(100 - left, (100 * span.duration) / scale));
      const flags = (span.error ? " ✗" : "") + (span.partial ? " ◌" : "") +
        (span.link && span.link.confidence < 0.9 ? " ?" : "");
      const row = h("div", { class: "span-row" + (span.error ? " failed" : ""), "data-span-id": span.id, tabindex: 0 }, [
        h("div", { class: "label", style: "padding-left:" + span.depth * 14 + "px", title: span.name }, [
          h("span", { class: "swatch", style: "background:" + colour(span.service) }),
          h("span", { class: "name", text: span.name + flags }),
          h("span", { class: "service", text: span.service + " " + span.kind }),
        ]),
        h("div", { class: "lane" }, [
          h("div", { class: "bar", style: "left:" + left + "%;width:" + width + "%;background:" + colour(span.service) }),
          durationLabel(span.duration, left, width),
        ]),
      ]);
      row.addEventListener("click", () => select(trace, span, row));
      row.addEventListener("keydown", (e) => { if (e.key === "Enter") select(trace, span, row); });
      rows.push(row);
    }
    return h("div", { class: "waterfall" }, rows);
  }

  function traces() {
    const section = document.getElementById("traces");
    section.append(h("p", { text: "Slowest first. Click a span for its details; ✗ failed, ◌ partial, ? unsure link." }));
    const list = h("div", { class: "trace-list" }, data.traces.map((trace, i) => {
      const root = trace.spans[0];
      const services = new Set(trace.spans.map((s) => s.service)).size;
      const summary = h("summary", {}, [
        h("b", { text: "#" + (i + 1) + " " + ns(trace.duration) }),
        " " + (root ? root.name + " (" + root.service + ")" : "") + " · " + trace.spans.length + " spans · " +
          services + " services · lowest link confidence " + trace.confidence.toFixed(2) + " · ",
        h("code", { text: trace.id }),
      ]);
      const details = h("details", { class: "trace", "data-trace-id": trace.id }, [summary, waterfall(trace)]);
      details.open = i === 0;
      return details;
    }));
    if (data.traces.length === 0) list.append(h("p", { text: "No traces in this recording." }));
    section.append(h("div", { class: "traces-layout" }, [list, panel]));
  }

  // `#span=ID` (what a click puts in the address) opens the span's trace and clicks it.
  function selectFromAddress() {
    const wanted = new URLSearchParams(location.hash.slice(1)).get("span");
    const row = wanted && document.querySelector('.span-row[data-span-id="' + CSS.escape(wanted) + '"]');
    if (!row) return;
    row.closest("details").open = true;
    row.click();
    row.scrollIntoView({ block: "center" });
  }

  overview();
  caveats();
  serviceMap();
  endpoints();
  traces();
  selectFromAddress();
  document.documentElement.setAttribute("data-kspan-rendered", String(data.traces.length));
})();
