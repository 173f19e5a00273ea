// Line charts of the last hour, drawn as SVG.

const W = 360;
const H = 120;
const HOUR = 3600 * 1000;

export function lineChart(id: string, title: string, pts: [number, number][], now: number, fmt: (v: number) => string): HTMLElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  svg.id = id;
  const top = Math.max(0, ...pts.map((p) => p[1])) || 1;
  const x = (t: number) => ((t - (now - HOUR)) / HOUR) * W;
  const y = (v: number) => H - 4 - (v / top) * (H - 20);
  const axis = document.createElementNS(ns, "path");
  axis.setAttribute("d", `M0,${H - 4}H${W}`);
  axis.setAttribute("class", "axis");
  svg.appendChild(axis);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts.filter((p) => p[0] >= now - HOUR).map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" "));
  line.setAttribute("class", "line");
  svg.appendChild(line);
  const max = document.createElementNS(ns, "text");
  max.setAttribute("x", "2");
  max.setAttribute("y", "12");
  max.textContent = "max " + fmt(top);
  svg.appendChild(max);
  const last = pts.length ? fmt(pts[pts.length - 1][1]) : "no data yet";
  const fig = document.createElement("figure");
  const cap = document.createElement("figcaption");
  cap.textContent = `${title}: ${last}`;
  fig.append(cap, svg);
  return fig;
}
