package platform

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/weirstream/weir/normal"
	"github.com/weirstream/weir/pipeline"
)

// FileConfig is the server's configuration file, `weir serve --config
// FILE` (docs/serve.md): for now its alerting. ParseConfig reads one.
type FileConfig struct {
	Alerts AlertsConfig `yaml:"alerts"`
}

// AlertsConfig is the alerts section of the configuration file.
type AlertsConfig struct {
	// Interval is how often the rules are evaluated against the metrics
	// (default 10s; at least 100ms).
	Interval string `yaml:"interval"`
	// Defaults keeps the built-in rules (DefaultAlertRules); default true.
	// A rule named like a built-in one changes the fields it gives.
	Defaults *bool `yaml:"defaults"`
	// Keep is how many closed alerts GET /api/v1/alerts lists (default 200).
	Keep int `yaml:"keep"`
	// Rules are the alert rules.
	Rules []AlertRuleConfig `yaml:"rules"`
	// Log delivers alerts to the server's log (default true).
	Log *bool `yaml:"log"`
	// Webhook delivers each alert's opening and closing as a POST.
	Webhook *AlertWebhookConfig `yaml:"webhook"`
	// Kafka delivers them as records of a topic.
	Kafka *AlertKafkaConfig `yaml:"kafka"`
}

// AlertRuleConfig is one rule as written in the file. Durations are Go
// durations ("30s", "5m").
//
// A rule is of one of two kinds. A threshold rule (the default) compares
// a metric of /metrics with a fixed threshold. A normal rule (kind:
// normal) learns what is normal for a series of each job, or of each of
// its sources, at each time of day and day of week (package normal), and
// opens an alert when a value leaves the range it expected.
type AlertRuleConfig struct {
	// Name identifies the rule: letters, digits, '_' and '-'.
	Name string `yaml:"name"`
	// Kind is "threshold" (default) or "normal".
	Kind string `yaml:"kind"`
	// Series is what a normal rule models: "throughput" (records a second
	// the sources read), "consumer_lag" (records the sources are behind
	// their input, as their connectors report it) or "latency" (the
	// watermark lag: how far event time is behind the wall clock).
	Series string `yaml:"series"`
	// Per is "job" (default: one model per job, of its sources together)
	// or "source" (one model per source operator of each job).
	Per string `yaml:"per"`
	// Direction is which side of the expected range alerts: "both",
	// "above" or "below" (default: below for throughput, above for the
	// others).
	Direction string `yaml:"direction"`
	// Step is the time a normal rule's model averages the series over
	// before it learns and judges one value (default 1m).
	Step string `yaml:"step"`
	// Tolerance is how far, in the series' unit, a value must be outside
	// the expected range to count (default 1 record/s for throughput, 1000
	// records for consumer lag, 5 s for latency), so that a series that is
	// nearly always 0 does not alert at its first small change.
	Tolerance *float64 `yaml:"tolerance"`
	// Adapt is how long an alert of a normal rule is open before its model
	// learns the new values as normal (default 6h); until then, values of
	// an open alert are judged but not learned from, so that a stall does
	// not become the norm.
	Adapt string `yaml:"adapt"`
	// Warmup is how many steps a normal rule's model learns from before it
	// judges any (default 150: two and a half hours of 1m steps). Its
	// daily profile needs two days more to be learned.
	Warmup *int `yaml:"warmup"`
	// Metric is the name of a metric of /metrics.
	Metric string `yaml:"metric"`
	// Labels keeps the series whose labels have these values.
	Labels map[string]string `yaml:"labels"`
	// Func is what of each series is compared: "value" (default), "rate"
	// (its increase per second over Window) or "increase" (over Window).
	// A counter's drop is a restart of it, counted from 0.
	Func string `yaml:"func"`
	// Window is the range of rate and increase (default 5m).
	Window string `yaml:"window"`
	// By groups the series by these labels, one alert per group, its value
	// the Aggregate of the group's; empty means one alert per series.
	By []string `yaml:"by"`
	// Aggregate is sum (default), max or min.
	Aggregate string `yaml:"aggregate"`
	// Op compares the value with Threshold: ">" (default), ">=", "<", "<=".
	Op string `yaml:"op"`
	// Threshold is the value past which the alert opens. For a normal
	// rule, it is the anomaly score in (0, 1] (default 0.5, normal.Threshold).
	Threshold *float64 `yaml:"threshold"`
	// Close is the value the alert must come back past to close (default
	// Threshold): with Op ">" an open alert closes when the value is at or
	// below Close — between Close and Threshold it stays as it is. For a
	// normal rule it is a score (default 0.25), and a value inside the
	// expected range scores 0.
	Close *float64 `yaml:"close"`
	// For is how long the value must stay past Threshold before the alert
	// opens (default 0: at the first evaluation).
	For string `yaml:"for"`
	// CloseFor is how long it must stay back past Close before the alert
	// closes (default 0; 5m for a normal rule).
	CloseFor string `yaml:"close_for"`
	// Message describes the alert; {{value}}, {{threshold}} and
	// {{label:NAME}} are replaced, and for a normal rule {{expected_low}},
	// {{expected_high}} and {{score}}.
	Message string `yaml:"message"`
	// Disabled turns the rule off (a built-in one, say).
	Disabled bool `yaml:"disabled"`
}

// AlertWebhookConfig is where the webhook delivery posts.
type AlertWebhookConfig struct {
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	Timeout string            `yaml:"timeout"` // one attempt, default 10s
	Retries *int              `yaml:"retries"` // default 5
	Backoff string            `yaml:"backoff"` // default 500ms, doubled before each retry
}

// AlertKafkaConfig is where the Kafka delivery produces.
type AlertKafkaConfig struct {
	Brokers []string `yaml:"brokers"`
	Topic   string   `yaml:"topic"`
}

// AlertRule is a rule ready to be evaluated.
type AlertRule struct {
	Name      string
	Kind      string // "threshold" or "normal"
	Metric    string
	Labels    map[string]string
	Func      string
	Window    time.Duration
	By        []string
	Aggregate string
	Op        string
	Threshold float64
	Close     float64
	For       time.Duration
	CloseFor  time.Duration
	Message   string
	// A normal rule's (Op is ">=", Threshold and Close are scores).
	Series    string
	Per       string
	Direction string
	Step      time.Duration
	Tolerance float64
	Adapt     time.Duration
	Warmup    int
}

// Alerting is the parsed alerts section: what the server evaluates and
// where it delivers.
type Alerting struct {
	Interval time.Duration
	Keep     int
	Rules    []AlertRule
	Log      bool
	Webhook  *AlertWebhookConfig
	Kafka    *AlertKafkaConfig
	// webhook's parsed durations
	webhookTimeout, webhookBackoff time.Duration
	webhookRetries                 int
}

// DefaultAlertRules are the built-in rules, on unless the file says
// `defaults: false`:
//
//   - job-restarting: the server restarted a job's process in the last 10
//     minutes;
//   - checkpoints-failing: a job's checkpoints failed in the last 5 minutes;
//   - watermark-stalled: the watermark lag of an operator of a job grew by
//     at least 0.9 s a second over a minute, for a minute (its watermark
//     does not move); one alert per job, whose operators after a stalled
//     one stall with it; closes once it grows by less than 0.5 s a second;
//   - dead-letters: a job dead-letters more than 1 record a second over a
//     minute, for a minute; closes at 0.1 a second;
//   - consumer-lag-growing: a Kafka input's consumer lag of a partition
//     grew over 5 minutes, for 10 minutes;
//   - throughput-abnormal (normal): a job's sources read fewer records a
//     second than is normal for the job at that time of day;
//   - consumer-lag-abnormal (normal): a source of a job is further behind
//     its input than is normal for it at that time of day;
//   - latency-abnormal (normal): a job's watermark lag is higher than is
//     normal for it at that time of day.
func DefaultAlertRules() []AlertRuleConfig {
	f := func(v float64) *float64 { return &v }
	return []AlertRuleConfig{
		{Name: "job-restarting", Metric: "weir_job_restarts_total", Func: "increase", Window: "10m", By: []string{"job_id"},
			Threshold: f(0), Message: "job {{label:job_id}} restarted {{value}} times in the rule's window"},
		{Name: "checkpoints-failing", Metric: "weir_job_checkpoints_failed_total", Func: "increase", Window: "5m", By: []string{"job_id"},
			Threshold: f(0), Message: "job {{label:job_id}}: {{value}} checkpoints failed in the rule's window"},
		{Name: "watermark-stalled", Metric: "weir_operator_watermark_lag_seconds", Func: "rate", Window: "1m", By: []string{"job_id"},
			Aggregate: "max", Threshold: f(0.9), Close: f(0.5), For: "1m",
			Message: "job {{label:job_id}}: the watermark is stalled (its lag grows {{value}} s a second)"},
		{Name: "dead-letters", Metric: "weir_operator_records_dead_lettered_total", Func: "rate", Window: "1m", By: []string{"job_id"},
			Threshold: f(1), Close: f(0.1), For: "1m", Message: "job {{label:job_id}} dead-letters {{value}} records a second"},
		{Name: "consumer-lag-growing", Metric: "weir_kafka_consumer_lag_records", Func: "rate", Window: "5m", By: []string{"job_id", "topic", "partition"},
			Aggregate: "max", Threshold: f(0), For: "10m",
			Message: "job {{label:job_id}}: the consumer lag of {{label:topic}}/{{label:partition}} keeps growing ({{value}} records a second)"},
		{Name: "throughput-abnormal", Kind: "normal", Series: "throughput",
			Message: "job {{label:job_id}} reads {{value}} records a second; normal at this time is {{expected_low}} to {{expected_high}}"},
		{Name: "consumer-lag-abnormal", Kind: "normal", Series: "consumer_lag", Per: "source",
			Message: "job {{label:job_id}}: {{label:source}} is {{value}} records behind its input; normal at this time is {{expected_low}} to {{expected_high}}"},
		{Name: "latency-abnormal", Kind: "normal", Series: "latency",
			Message: "job {{label:job_id}}: its watermark lag is {{value}} s; normal at this time is {{expected_low}} to {{expected_high}}"},
	}
}

// maxConfigFile bounds the configuration file ParseConfig reads.
const maxConfigFile = 1 << 20

var ruleNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)
var metricNamePattern = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// LoadConfig reads and parses the configuration file at path.
func LoadConfig(path string) (Alerting, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Alerting{}, fmt.Errorf("server configuration: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses a configuration file's contents (name is the file in
// errors) and returns its alerting with the defaults filled in. Its
// errors are pipeline.Errors: each with the line and column of the field
// at fault.
func ParseConfig(name string, data []byte) (Alerting, error) {
	perr := func(line, col int, format string, args ...any) error {
		return pipeline.Errors{{File: name, Pos: pipeline.Pos{Line: line, Col: col}, Msg: fmt.Sprintf(format, args...)}}
	}
	if len(data) > maxConfigFile {
		return Alerting{}, perr(0, 0, "the file is larger than %d bytes", maxConfigFile)
	}
	var fc FileConfig
	if strings.TrimSpace(string(data)) != "" {
		if err := yaml.UnmarshalWithOptions(data, &fc, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
			var ye yaml.Error
			if errors.As(err, &ye) && ye.GetToken() != nil && ye.GetToken().Position != nil {
				p := ye.GetToken().Position
				return Alerting{}, perr(p.Line, p.Column, "%s", ye.GetMessage())
			}
			return Alerting{}, perr(0, 0, "%v", err)
		}
	}
	file, _ := parser.ParseBytes(data, 0)
	c := &configChecker{name: name, file: file}
	a := c.alerting(fc.Alerts)
	if len(c.errs) > 0 {
		slices.SortStableFunc(c.errs, func(a, b *pipeline.Error) int {
			if a.Pos.Line != b.Pos.Line {
				return a.Pos.Line - b.Pos.Line
			}
			return a.Pos.Col - b.Pos.Col
		})
		return Alerting{}, c.errs
	}
	return a, nil
}

// DefaultAlerting is the alerting of a server without a configuration
// file: the built-in rules, delivered to the log.
func DefaultAlerting() Alerting {
	a, err := ParseConfig("(built in)", nil)
	if err != nil {
		panic(err) // the built-in rules are valid: TestDefaultAlerting
	}
	return a
}

type configChecker struct {
	name string
	file *ast.File
	errs pipeline.Errors
}

// errorf records an error at the node of the YAML path (such as
// "$.alerts.rules[2].op"), or at the nearest node above it that the file
// has.
func (c *configChecker) errorf(path string, format string, args ...any) {
	e := &pipeline.Error{File: c.name, Msg: fmt.Sprintf(format, args...)}
	for p := path; c.file != nil && p != "" && p != "$"; {
		if yp, err := yaml.PathString(p); err == nil {
			if n, err := yp.FilterFile(c.file); err == nil && n != nil && n.GetToken() != nil && n.GetToken().Position != nil {
				e.Pos = pipeline.Pos{Line: n.GetToken().Position.Line, Col: n.GetToken().Position.Column}
				break
			}
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	c.errs = append(c.errs, e)
}

func (c *configChecker) duration(path, s string, def, least time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < least {
		c.errorf(path, "invalid duration %q: want a Go duration of at least %v, such as 30s or 5m", s, least)
		return def
	}
	return d
}

func (c *configChecker) alerting(ac AlertsConfig) Alerting {
	a := Alerting{Log: ac.Log == nil || *ac.Log, Keep: ac.Keep, Webhook: ac.Webhook, Kafka: ac.Kafka}
	a.Interval = c.duration("$.alerts.interval", ac.Interval, 10*time.Second, 100*time.Millisecond)
	if a.Keep < 0 {
		c.errorf("$.alerts.keep", "invalid keep %d: want how many closed alerts to list, 0 for the default 200", a.Keep)
	}
	if a.Keep <= 0 {
		a.Keep = 200
	}
	rules := []AlertRuleConfig{}
	builtIn := map[string]bool{}
	if ac.Defaults == nil || *ac.Defaults {
		for _, r := range DefaultAlertRules() {
			rules = append(rules, r)
			builtIn[r.Name] = true
		}
	}
	paths := make([]string, len(rules))
	seen := map[string]bool{}
	for i, r := range ac.Rules {
		path := fmt.Sprintf("$.alerts.rules[%d]", i)
		if seen[r.Name] && r.Name != "" {
			c.errorf(path+".name", "a second rule named %q", r.Name)
			continue
		}
		seen[r.Name] = true
		if j := slices.IndexFunc(rules, func(b AlertRuleConfig) bool { return b.Name == r.Name }); j >= 0 && builtIn[r.Name] {
			rules[j] = overlay(rules[j], r)
			paths[j] = path
			continue
		}
		rules = append(rules, r)
		paths = append(paths, path)
	}
	for i, r := range rules {
		if r.Disabled {
			continue
		}
		if rule, ok := c.rule(paths[i], r); ok {
			a.Rules = append(a.Rules, rule)
		}
	}
	if w := ac.Webhook; w != nil {
		u, err := url.Parse(w.URL)
		if w.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.errorf("$.alerts.webhook.url", "invalid webhook url %q: want an http:// or https:// URL with a host", w.URL)
		}
		a.webhookTimeout = c.duration("$.alerts.webhook.timeout", w.Timeout, 10*time.Second, time.Millisecond)
		a.webhookBackoff = c.duration("$.alerts.webhook.backoff", w.Backoff, 500*time.Millisecond, time.Millisecond)
		a.webhookRetries = 5
		if w.Retries != nil {
			if *w.Retries < 0 {
				c.errorf("$.alerts.webhook.retries", "invalid retries %d: must not be negative", *w.Retries)
			}
			a.webhookRetries = *w.Retries
		}
	}
	if k := ac.Kafka; k != nil {
		if len(k.Brokers) == 0 {
			c.errorf("$.alerts.kafka", "kafka needs brokers: a list of host:port")
		}
		if k.Topic == "" {
			c.errorf("$.alerts.kafka", "kafka needs a topic")
		}
	}
	return a
}

// overlay changes the built-in rule b by the fields r gives.
func overlay(b, r AlertRuleConfig) AlertRuleConfig {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&b.Metric, r.Metric)
	set(&b.Func, r.Func)
	set(&b.Window, r.Window)
	set(&b.Aggregate, r.Aggregate)
	set(&b.Op, r.Op)
	set(&b.For, r.For)
	set(&b.CloseFor, r.CloseFor)
	set(&b.Message, r.Message)
	set(&b.Kind, r.Kind)
	set(&b.Series, r.Series)
	set(&b.Per, r.Per)
	set(&b.Direction, r.Direction)
	set(&b.Step, r.Step)
	set(&b.Adapt, r.Adapt)
	if r.Tolerance != nil {
		b.Tolerance = r.Tolerance
	}
	if r.Warmup != nil {
		b.Warmup = r.Warmup
	}
	if r.Labels != nil {
		b.Labels = r.Labels
	}
	if r.By != nil {
		b.By = r.By
	}
	if r.Threshold != nil {
		b.Threshold = r.Threshold
		if r.Close == nil {
			b.Close = nil
		}
	}
	if r.Close != nil {
		b.Close = r.Close
	}
	b.Disabled = r.Disabled
	return b
}

func (c *configChecker) rule(path string, r AlertRuleConfig) (AlertRule, bool) {
	n := len(c.errs)
	if path == "" {
		path = "$.alerts"
	}
	switch r.Kind {
	case "", "threshold":
	case "normal":
		return c.normalRule(path, r)
	default:
		c.errorf(path+".kind", "rule %q: unknown kind %q; want threshold or normal", r.Name, r.Kind)
		return AlertRule{}, false
	}
	for _, f := range []struct{ name, v string }{{"series", r.Series}, {"per", r.Per}, {"direction", r.Direction}, {"step", r.Step}, {"adapt", r.Adapt}} {
		if f.v != "" {
			c.errorf(path+"."+f.name, "rule %q: %s is a field of a normal rule (kind: normal)", r.Name, f.name)
		}
	}
	if r.Tolerance != nil {
		c.errorf(path+".tolerance", "rule %q: tolerance is a field of a normal rule (kind: normal)", r.Name)
	}
	if r.Warmup != nil {
		c.errorf(path+".warmup", "rule %q: warmup is a field of a normal rule (kind: normal)", r.Name)
	}
	out := AlertRule{Name: r.Name, Kind: "threshold", Metric: r.Metric, Labels: r.Labels, Func: r.Func, By: r.By, Aggregate: r.Aggregate, Op: r.Op, Message: r.Message}
	if !ruleNamePattern.MatchString(r.Name) {
		c.errorf(path+".name", "invalid rule name %q: want letters, digits, '_' and '-', starting with a letter", r.Name)
	}
	if !metricNamePattern.MatchString(r.Metric) {
		c.errorf(path+".metric", "rule %q: invalid metric %q: want the name of a metric of /metrics, such as weir_job_restarts_total", r.Name, r.Metric)
	}
	switch out.Func {
	case "":
		out.Func = "value"
	case "value", "rate", "increase":
	default:
		c.errorf(path+".func", "rule %q: unknown func %q; want value, rate or increase", r.Name, r.Func)
	}
	out.Window = c.duration(path+".window", r.Window, 5*time.Minute, time.Millisecond)
	switch out.Aggregate {
	case "":
		out.Aggregate = "sum"
	case "sum", "max", "min":
	default:
		c.errorf(path+".aggregate", "rule %q: unknown aggregate %q; want sum, max or min", r.Name, r.Aggregate)
	}
	switch out.Op {
	case "":
		out.Op = ">"
	case ">", ">=", "<", "<=":
	default:
		c.errorf(path+".op", "rule %q: unknown op %q; want >, >=, < or <=", r.Name, r.Op)
	}
	if r.Threshold == nil {
		c.errorf(path, "rule %q needs a threshold", r.Name)
	} else if math.IsNaN(*r.Threshold) {
		c.errorf(path+".threshold", "rule %q: the threshold is not a number", r.Name)
	} else {
		out.Threshold = *r.Threshold
		out.Close = out.Threshold
	}
	if r.Close != nil && r.Threshold != nil {
		out.Close = *r.Close
		if (strings.HasPrefix(out.Op, ">") && out.Close > out.Threshold) || (strings.HasPrefix(out.Op, "<") && out.Close < out.Threshold) {
			c.errorf(path+".close", "rule %q: close %v is past the threshold %v: an alert would close before it opens; with op %s want close %s threshold",
				r.Name, out.Close, out.Threshold, out.Op, map[bool]string{true: "≤", false: "≥"}[strings.HasPrefix(out.Op, ">")])
		}
	}
	out.For = c.duration(path+".for", r.For, 0, 0)
	out.CloseFor = c.duration(path+".close_for", r.CloseFor, 0, 0)
	for _, l := range r.By {
		if !metricNamePattern.MatchString(l) {
			c.errorf(path+".by", "rule %q: invalid label %q in by", r.Name, l)
		}
	}
	if out.Message == "" {
		out.Message = fmt.Sprintf("%s %s %s {{threshold}}: {{value}}", out.Func, out.Metric, out.Op)
	}
	return out, len(c.errs) == n
}

// normalSeries are the series a normal rule may model, with the default
// side and tolerance of each.
var normalSeries = map[string]struct {
	direction string
	tolerance float64
}{
	"throughput":   {"below", 1},
	"consumer_lag": {"above", 1000},
	"latency":      {"above", 5},
}

// normalRule checks a rule of kind normal.
func (c *configChecker) normalRule(path string, r AlertRuleConfig) (AlertRule, bool) {
	n := len(c.errs)
	out := AlertRule{Name: r.Name, Kind: "normal", Labels: r.Labels, Series: r.Series, Per: r.Per, Direction: r.Direction,
		Op: ">=", Threshold: normal.Threshold, Close: 0.25, Message: r.Message}
	if !ruleNamePattern.MatchString(r.Name) {
		c.errorf(path+".name", "invalid rule name %q: want letters, digits, '_' and '-', starting with a letter", r.Name)
	}
	for _, f := range []struct{ name, v string }{{"metric", r.Metric}, {"func", r.Func}, {"window", r.Window}, {"aggregate", r.Aggregate}, {"op", r.Op}} {
		if f.v != "" {
			c.errorf(path+"."+f.name, "rule %q: a normal rule takes no %s: it models its series (see series and per)", r.Name, f.name)
		}
	}
	if r.By != nil {
		c.errorf(path+".by", "rule %q: a normal rule takes no by: it keeps one model per job, or per source (see per)", r.Name)
	}
	def, ok := normalSeries[r.Series]
	if !ok {
		c.errorf(path+".series", "rule %q: unknown series %q; want throughput, consumer_lag or latency", r.Name, r.Series)
	}
	switch out.Per {
	case "":
		out.Per = "job"
	case "job", "source":
	default:
		c.errorf(path+".per", "rule %q: unknown per %q; want job or source", r.Name, r.Per)
	}
	switch out.Direction {
	case "":
		out.Direction = def.direction
	case "above", "below", "both":
	default:
		c.errorf(path+".direction", "rule %q: unknown direction %q; want above, below or both", r.Name, r.Direction)
	}
	out.Tolerance = def.tolerance
	if t := r.Tolerance; t != nil {
		if !(*t >= 0) || math.IsInf(*t, 0) {
			c.errorf(path+".tolerance", "rule %q: invalid tolerance %v: want a distance of at least 0 in the series' unit", r.Name, *t)
		}
		out.Tolerance = *t
	}
	if t := r.Threshold; t != nil {
		if !(*t > 0 && *t <= 1) {
			c.errorf(path+".threshold", "rule %q: invalid threshold %v: a normal rule's threshold is an anomaly score in (0, 1]", r.Name, *t)
		}
		out.Threshold = *t
		out.Close = min(out.Close, out.Threshold)
	}
	if cl := r.Close; cl != nil {
		if !(*cl >= 0 && *cl <= out.Threshold) {
			c.errorf(path+".close", "rule %q: invalid close %v: a normal rule's close is an anomaly score in [0, threshold %v]", r.Name, *cl, out.Threshold)
		}
		out.Close = *cl
	}
	out.Warmup = normal.DefaultConfig().Warmup
	if w := r.Warmup; w != nil {
		if *w < 1 || *w > 1_000_000 {
			c.errorf(path+".warmup", "rule %q: invalid warmup %d: want how many steps a model learns from before it judges, from 1 to 1000000", r.Name, *w)
		}
		out.Warmup = *w
	}
	out.Step = c.duration(path+".step", r.Step, time.Minute, time.Second)
	out.Adapt = c.duration(path+".adapt", r.Adapt, 6*time.Hour, 0)
	out.For = c.duration(path+".for", r.For, 0, 0)
	out.CloseFor = c.duration(path+".close_for", r.CloseFor, 5*time.Minute, 0)
	if out.Message == "" {
		out.Message = fmt.Sprintf("job {{label:job_id}}: %s {{value}} is outside its normal range {{expected_low}} to {{expected_high}} (score {{score}})", out.Series)
	}
	return out, len(c.errs) == n
}
