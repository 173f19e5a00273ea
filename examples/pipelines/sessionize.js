// Sessionizes views: a user's views belong to one session until 30
// minutes pass without one. Each view is written with its session and its
// number in it; a session's summary is written when the user's next view
// starts a new session.
//
// The step is keyed by user: state holds the user's open session, in
// Weir's keyed state, so it is checkpointed, restored and rescaled with
// the job. Edit this file while the job runs and the new version is
// applied at the next checkpoint.
var GAP_MS = 30 * 60 * 1000;

function process(view) {
  var at = Date.parse(view.ts);
  if (isNaN(at)) {
    throw new Error("view " + view.id + ": ts " + JSON.stringify(view.ts) + " is not a time");
  }
  var out = [];
  var s = state.get("session");
  if (s && at - s.last > GAP_MS) {
    out.push({
      kind: "session", user: view.user, session: s.id,
      start: new Date(s.start).toISOString(), end: new Date(s.last).toISOString(),
      views: s.views, titles: s.titles.length
    });
    s = null;
  }
  if (!s) {
    var n = (state.get("sessions") || 0) + 1;
    state.put("sessions", n);
    s = {id: view.user + "-" + n, start: at, last: at, views: 0, titles: []};
  }
  s.views++;
  s.last = Math.max(s.last, at);
  if (s.titles.indexOf(view.title) < 0) {
    s.titles.push(view.title);
  }
  state.put("session", s);
  out.push({kind: "view", id: view.id, user: view.user, title: view.title, session: s.id, n: s.views});
  return out;
}
