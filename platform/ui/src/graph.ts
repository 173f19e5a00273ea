// The job graph: a layered layout of a DAG (longest-path layers, then
// barycenter sweeps to reduce crossings) drawn as SVG.

export interface GraphOp {
  id: string;
  name: string;
  kind: string;
  parallelism: number;
  task: number;
  records_in_per_second?: number;
  records_out_per_second?: number;
  backpressure?: number;
  watermark?: string;
  watermark_lag_seconds?: number;
  dead_lettered?: number;
}

export interface GraphEdge {
  from: string;
  to: string;
  partitioning: string;
  chained: boolean;
  side_output?: string;
}

export interface Placed {
  op: GraphOp;
  layer: number;
  x: number;
  y: number;
}

export const BOX_W = 168;
export const BOX_H = 64;
const GAP_X = 56;
const GAP_Y = 24;
const PAD = 12;

// layout places every operator: its layer is the longest path from a
// source, its order within the layer the mean order of its neighbours,
// swept down and up a few times.
export function layout(ops: GraphOp[], edges: GraphEdge[]): { placed: Map<string, Placed>; width: number; height: number } {
  const ins = new Map<string, string[]>();
  const outs = new Map<string, string[]>();
  for (const o of ops) {
    ins.set(o.id, []);
    outs.set(o.id, []);
  }
  for (const e of edges) {
    if (!ins.has(e.to) || !outs.has(e.from)) continue;
    ins.get(e.to)!.push(e.from);
    outs.get(e.from)!.push(e.to);
  }
  // Kahn's order gives the layers; an operator on a cycle (there should be
  // none) keeps layer 0.
  const layer = new Map<string, number>();
  const indeg = new Map<string, number>();
  for (const o of ops) indeg.set(o.id, ins.get(o.id)!.length);
  const queue = ops.filter((o) => indeg.get(o.id) === 0).map((o) => o.id);
  for (const id of queue) layer.set(id, 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    for (const to of outs.get(id)!) {
      layer.set(to, Math.max(layer.get(to) ?? 0, layer.get(id)! + 1));
      indeg.set(to, indeg.get(to)! - 1);
      if (indeg.get(to) === 0) queue.push(to);
    }
  }
  const layers: string[][] = [];
  for (const o of ops) {
    const l = layer.get(o.id) ?? 0;
    (layers[l] ||= []).push(o.id);
  }
  for (let l = 0; l < layers.length; l++) layers[l] ||= [];
  const pos = new Map<string, number>();
  const setPos = () => layers.forEach((ids) => ids.forEach((id, i) => pos.set(id, i)));
  setPos();
  const sweep = (l: number, nbrs: Map<string, string[]>) => {
    const bary = new Map<string, number>();
    for (const id of layers[l]) {
      const ns = nbrs.get(id)!;
      bary.set(id, ns.length ? ns.reduce((s, n) => s + pos.get(n)!, 0) / ns.length : pos.get(id)!);
    }
    layers[l].sort((a, b) => bary.get(a)! - bary.get(b)! || pos.get(a)! - pos.get(b)!);
    layers[l].forEach((id, i) => pos.set(id, i));
  };
  for (let round = 0; round < 4; round++) {
    for (let l = 1; l < layers.length; l++) sweep(l, ins);
    for (let l = layers.length - 2; l >= 0; l--) sweep(l, outs);
  }
  const tallest = Math.max(1, ...layers.map((ids) => ids.length));
  const height = PAD * 2 + tallest * BOX_H + (tallest - 1) * GAP_Y;
  const width = PAD * 2 + layers.length * BOX_W + Math.max(0, layers.length - 1) * GAP_X;
  const byId = new Map(ops.map((o) => [o.id, o]));
  const placed = new Map<string, Placed>();
  layers.forEach((ids, l) => {
    const colH = ids.length * BOX_H + (ids.length - 1) * GAP_Y;
    const top = (height - colH) / 2;
    ids.forEach((id, i) => {
      placed.set(id, { op: byId.get(id)!, layer: l, x: PAD + l * (BOX_W + GAP_X), y: top + i * (BOX_H + GAP_Y) });
    });
  });
  return { placed, width, height };
}

const SVG = "http://www.w3.org/2000/svg";

function el(name: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, name);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined) e.textContent = text;
  return e;
}

export function fmtRate(v: number | undefined): string {
  v = v || 0;
  if (v >= 1e6) return (v / 1e6).toFixed(1) + "M/s";
  if (v >= 1e3) return (v / 1e3).toFixed(1) + "k/s";
  return v.toFixed(v < 10 && v > 0 ? 1 : 0) + "/s";
}

export function fmtSeconds(s: number | undefined): string {
  s = s || 0;
  if (s >= 3600) return (s / 3600).toFixed(1) + "h";
  if (s >= 60) return (s / 60).toFixed(1) + "m";
  if (s >= 1) return s.toFixed(1) + "s";
  return Math.round(s * 1000) + "ms";
}

// bpColour goes from green (no backpressure) through yellow to red (an
// operator that waits all the time).
export function bpColour(bp: number | undefined): string {
  const b = Math.min(Math.max(bp || 0, 0), 1);
  return `hsl(${Math.round(120 * (1 - b))},65%,82%)`;
}

// drawGraph replaces the children of svg with the graph.
export function drawGraph(svg: SVGSVGElement, ops: GraphOp[], edges: GraphEdge[]): void {
  const { placed, width, height } = layout(ops, edges);
  svg.replaceChildren();
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const defs = el("defs", {});
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.appendChild(el("path", { d: "M0,0L10,5L0,10z", class: "arrowhead" }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  const edgeLayer = el("g", { class: "edges" });
  svg.appendChild(edgeLayer);
  for (const e of edges) {
    const a = placed.get(e.from);
    const b = placed.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + BOX_W, y1 = a.y + BOX_H / 2, x2 = b.x, y2 = b.y + BOX_H / 2;
    const mx = (x1 + x2) / 2;
    const cls = "edge" + (e.chained ? " chained" : "");
    const g = el("g", { class: cls });
    g.appendChild(el("path", { d: `M${x1},${y1}C${mx},${y1} ${mx},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)" }));
    if (!e.chained || e.side_output) {
      const label = e.side_output ? e.side_output : e.partitioning;
      g.appendChild(el("text", { x: mx, y: (y1 + y2) / 2 - 4, "text-anchor": "middle" }, label));
    }
    edgeLayer.appendChild(g);
  }
  for (const p of placed.values()) {
    const o = p.op;
    const rate = o.kind === "source" || !o.records_in_per_second ? o.records_out_per_second || 0 : o.records_in_per_second;
    const g = el("g", { class: "op", transform: `translate(${p.x},${p.y})`, "data-id": o.id, "data-rate": rate.toFixed(3), "data-backpressure": (o.backpressure || 0).toFixed(3) });
    const title = el("title", {}, `${o.name} (${o.kind}, id ${o.id}, task ${o.task})\nin ${fmtRate(o.records_in_per_second)}, out ${fmtRate(o.records_out_per_second)}\nbackpressure ${Math.round((o.backpressure || 0) * 100)}%` +
      (o.watermark ? `\nwatermark ${o.watermark}` : "") + (o.dead_lettered ? `\ndead-lettered ${o.dead_lettered}` : ""));
    g.appendChild(title);
    g.appendChild(el("rect", { width: BOX_W, height: BOX_H, rx: 6, fill: bpColour(o.backpressure) }));
    const name = o.name.length > 22 ? o.name.slice(0, 21) + "…" : o.name;
    g.appendChild(el("text", { x: 8, y: 17, class: "name" }, name));
    g.appendChild(el("text", { x: BOX_W - 8, y: 17, "text-anchor": "end", class: "par" }, "×" + o.parallelism));
    g.appendChild(el("text", { x: 8, y: 36, class: "rate" }, fmtRate(rate) + "  bp " + Math.round((o.backpressure || 0) * 100) + "%"));
    const wm = o.watermark ? "wm lag " + fmtSeconds(o.watermark_lag_seconds) : "no watermark";
    g.appendChild(el("text", { x: 8, y: 54, class: "wm" }, wm));
    svg.appendChild(g);
  }
}

// syntheticGraph is a job of n operators for the render benchmark: sources
// fanning out into branches that join again, as a large pipeline looks.
export function syntheticGraph(n: number): { ops: GraphOp[]; edges: GraphEdge[] } {
  const ops: GraphOp[] = [];
  const edges: GraphEdge[] = [];
  for (let i = 0; i < n; i++) {
    ops.push({ id: "op" + i, name: (i < 3 ? "source-" : "step-") + i, kind: i < 3 ? "source" : "map", parallelism: 1 + (i % 4), task: i,
      records_in_per_second: 1000 * (i + 1), records_out_per_second: 900 * (i + 1), backpressure: (i % 10) / 10,
      watermark: new Date(0).toISOString(), watermark_lag_seconds: i });
  }
  for (let i = 3; i < n; i++) {
    edges.push({ from: "op" + ((i * 7) % i === 0 ? i - 1 : (i * 7) % i), to: "op" + i, partitioning: i % 2 ? "hash" : "forward", chained: i % 3 === 0 });
    if (i % 5 === 0) edges.push({ from: "op" + (i - 3), to: "op" + i, partitioning: "rebalance", chained: false });
  }
  return { ops, edges };
}
