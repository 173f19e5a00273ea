package pipeline

import (
	"path/filepath"
	"slices"
	"testing"
)

const isolatedSplit = `version: 1
inputs:
  clicks:
    type: kafka
    brokers: [127.0.0.1:9092]
    topic: clicks
    group: g
    schema: {kind: string, n: int}
  logs:
    type: file
    path: logs.jsonl
steps:
  - name: valid
    from: clicks
    filter: n > 0
  - name: split
    from: valid
    route:
      isolate: true
      cases:
        - {when: kind == "a", to: as}
      default: others
  - name: shout
    from: logs
    map: {line: upper(string(line))}
outputs:
  as: {type: stdout}
  others: {type: stdout}
  loud: {type: stdout, from: shout}
dead_letter: {path: dl}
`

// Split makes one pipeline per output, each with only the steps and inputs
// its output reads from, its own Kafka consumer group and its own
// dead-letter directory; the whole pipeline is left as it was.
func TestSplitIsolated(t *testing.T) {
	p, err := Parse("p.yaml", []byte(isolatedSplit), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Isolated() {
		t.Fatal("Isolated is false for a pipeline whose route isolates")
	}
	parts := p.Split()
	names := func(n int, name func(int) string) []string {
		var out []string
		for i := range n {
			out = append(out, name(i))
		}
		return out
	}
	for i, want := range []struct {
		output, group string
		inputs, steps []string
	}{
		{"as", "g.as", []string{"clicks"}, []string{"valid", "split"}},
		{"others", "g.others", []string{"clicks"}, []string{"valid", "split"}},
		{"loud", "", []string{"logs"}, []string{"shout"}},
	} {
		if i >= len(parts) {
			t.Fatalf("%d parts, want 3", len(parts))
		}
		part := parts[i]
		ins := names(len(part.Inputs), func(i int) string { return part.Inputs[i].Name })
		steps := names(len(part.Steps), func(i int) string { return part.Steps[i].Name })
		if part.Output != want.output || len(part.Outputs) != 1 || part.Outputs[0].Name != want.output ||
			!slices.Equal(ins, want.inputs) || !slices.Equal(steps, want.steps) {
			t.Errorf("part %d: output %q (%d outputs), inputs %v, steps %v; want %q, %v, %v",
				i, part.Output, len(part.Outputs), ins, steps, want.output, want.inputs, want.steps)
		}
		if want.group != "" && len(part.Inputs) > 0 && part.Inputs[0].Kafka.Group != want.group {
			t.Errorf("part %s: consumer group %q, want %q", part.Output, part.Inputs[0].Kafka.Group, want.group)
		}
		if part.DeadLetter == nil || part.DeadLetter.Path != filepath.Join("dl", want.output) {
			t.Errorf("part %s: dead letters %+v, want in dl/%s", part.Output, part.DeadLetter, want.output)
		}
	}
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	if p.Inputs[0].Kafka.Group != "g" || p.DeadLetter.Path != "dl" || len(p.Outputs) != 3 {
		t.Errorf("Split changed the whole pipeline: group %q, dead letters %q, %d outputs", p.Inputs[0].Kafka.Group, p.DeadLetter.Path, len(p.Outputs))
	}
	whole, err := Parse("p.yaml", []byte(isolatedSplit[:len(isolatedSplit)-1]+"\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	whole.Steps[1].spec.(*routeStep).isolate = false
	if whole.Isolated() || len(whole.Split()) != 1 || whole.Split()[0] != whole {
		t.Error("a pipeline without isolate is not its own single job")
	}
}
