package platform

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weirstream/weir/platform/jobcontrol"
)

// jobCollector collects one job's figures, as collector does for each
// running job.
type jobCollector struct {
	id string
	m  jobcontrol.Metrics
}

func (jobCollector) Describe(chan<- *prometheus.Desc) {}
func (c jobCollector) Collect(ch chan<- prometheus.Metric) {
	collectJob(ch, c.id, c.m)
}

// The metrics a job's connectors report are exported with the operator's
// labels and their own — a counter as a counter — and those Prometheus
// would refuse (a bad name, a label the operator's already has) are left
// out.
func TestConnectorMetricsExported(t *testing.T) {
	m := jobcontrol.Metrics{Operators: []jobcontrol.Operator{{
		Operator: "clicks", ID: "input/clicks", Subtask: 1,
		Connector: []jobcontrol.Metric{
			{Name: "kafka_consumer_lag_records", Help: "Records of the partition not read yet.", Labels: [][2]string{{"topic", "clicks"}, {"partition", "3"}}, Value: 42},
			{Name: "http_ingest_requests_accepted_total", Help: "Requests accepted.", Value: 7, Counter: true},
			{Name: "bad-name", Value: 1},
			{Name: "clash", Labels: [][2]string{{"subtask", "9"}}, Value: 1},
		},
	}}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(jobCollector{"j1", m})
	want := `
# HELP weir_http_ingest_requests_accepted_total Requests accepted.
# TYPE weir_http_ingest_requests_accepted_total counter
weir_http_ingest_requests_accepted_total{job_id="j1",operator="input/clicks",subtask="1"} 7
# HELP weir_kafka_consumer_lag_records Records of the partition not read yet.
# TYPE weir_kafka_consumer_lag_records gauge
weir_kafka_consumer_lag_records{job_id="j1",operator="input/clicks",partition="3",subtask="1",topic="clicks"} 42
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "weir_http_ingest_requests_accepted_total", "weir_kafka_consumer_lag_records", "weir_bad-name", "weir_clash"); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
