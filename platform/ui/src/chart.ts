// Line charts of the last hour, drawn as SVG, with the range a
// learned-normal alert rule expected drawn as a band behind the line.

const W = 360;
const H = 120;
const HOUR = 3600 * 1000;

// A point of a chart: its time (ms), its value, and the range expected for
// it when a model judged it.
export type Point = [number, number, { expected_low: number; expected_high: number } | undefined];

export function lineChart(id: string, title: string, pts: Point[], now: number, fmt: (v: number) => string): HTMLElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  svg.id = id;
  pts = pts.filter((p) => p[0] >= now - HOUR);
  // The scale takes in the band, so that the values' place in it shows.
  const top = Math.max(0, ...pts.map((p) => Math.max(p[1], p[2] ? p[2].expected_high : 0))) || 1;
  const x = (t: number) => ((t - (now - HOUR)) / HOUR) * W;
  const y = (v: number) => H - 4 - (Math.max(0, Math.min(v, top)) / top) * (H - 20);
  const xy = (t: number, v: number) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`;
  // The band: one polygon per run of points that have a range.
  let run: Point[] = [];
  const flush = () => {
    if (run.length) {
      const band = document.createElementNS(ns, "polygon");
      const upper = run.map((p) => xy(p[0], p[2]!.expected_high));
      const lower = run.slice().reverse().map((p) => xy(p[0], p[2]!.expected_low));
      band.setAttribute("points", upper.concat(lower).join(" "));
      band.setAttribute("class", "band");
      svg.appendChild(band);
    }
    run = [];
  };
  for (const p of pts) {
    if (p[2]) run.push(p);
    else flush();
  }
  flush();
  const axis = document.createElementNS(ns, "path");
  axis.setAttribute("d", `M0,${H - 4}H${W}`);
  axis.setAttribute("class", "axis");
  svg.appendChild(axis);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts.map((p) => xy(p[0], p[1])).join(" "));
  line.setAttribute("class", "line");
  svg.appendChild(line);
  const max = document.createElementNS(ns, "text");
  max.setAttribute("x", "2");
  max.setAttribute("y", "12");
  max.textContent = "max " + fmt(top);
  svg.appendChild(max);
  const lastPt = pts[pts.length - 1];
  let last = lastPt ? fmt(lastPt[1]) : "no data yet";
  // The latest range: the latest values are judged once their step ends.
  const judged = pts.filter((p) => p[2]).pop();
  if (judged) last += ` (normal now: ${fmt(judged[2]!.expected_low)} to ${fmt(judged[2]!.expected_high)})`;
  const fig = document.createElement("figure");
  const cap = document.createElement("figcaption");
  cap.textContent = `${title}: ${last}`;
  fig.append(cap, svg);
  return fig;
}
