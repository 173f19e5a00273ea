package httpingest

import "github.com/weirstream/weir"

// Reporter returns h's counters as a job's connector metrics
// (weir.MetricsReporter): give it to the source that reads h's journal
// (journal.SourceConfig.Reporter), and they come with the source's counts
// in weir.Env.Metrics and on `weir serve`'s /metrics.
func Reporter(h *Handler) weir.MetricsReporter { return reporter{h} }

type reporter struct{ h *Handler }

func (r reporter) Metrics() []weir.Metric {
	m := r.h.Metrics()
	rejected := func(reason string, v int64) weir.Metric {
		return weir.Metric{Name: "http_ingest_requests_rejected_total", Help: "Requests the HTTP collector answered with an error, by reason.",
			Labels: [][2]string{{"reason", reason}}, Value: float64(v), Counter: true}
	}
	return []weir.Metric{
		{Name: "http_ingest_requests_accepted_total", Help: "Requests the HTTP collector accepted (200).", Value: float64(m.Accepted), Counter: true},
		rejected("bad_request", m.BadRequests),
		rejected("too_large", m.TooLarge),
		rejected("throttled", m.Throttled),
		rejected("unavailable", m.Unavailable),
		rejected("failed", m.Failed),
		rejected("refused", m.Refused),
		{Name: "http_ingest_events_accepted_total", Help: "Events the HTTP collector appended to its journal.", Value: float64(m.Events), Counter: true},
		{Name: "http_ingest_events_rejected_total", Help: "Events the HTTP collector found bad (refused with their request, or dead-lettered).", Value: float64(m.BadEvents), Counter: true},
		{Name: "http_ingest_events_dead_lettered_total", Help: "Bad events the HTTP collector appended to its dead-letter journal.", Value: float64(m.DeadLettered), Counter: true},
		{Name: "http_ingest_received_bytes_total", Help: "Bytes of the events the HTTP collector appended.", Value: float64(m.Bytes), Counter: true},
		{Name: "http_ingest_requests_in_flight", Help: "Requests the HTTP collector is reading, checking or appending now.", Value: float64(m.InFlight)},
	}
}
