package platform

import (
	"strings"
	"testing"

	"github.com/weirstream/weir/pipeline"
)

// TestTemplatesExpandToValidPipelines: every template, with its defaults
// and with each enum value, is a valid pipeline.
func TestTemplatesExpandToValidPipelines(t *testing.T) {
	for _, tm := range templates {
		runs := []map[string]any{{}}
		for _, p := range tm.Params {
			for _, v := range p.Values {
				runs = append(runs, map[string]any{p.Name: v})
			}
		}
		for _, params := range runs {
			req := SubmitRequest{Template: tm.Name, Params: params}
			if err := expandTemplate(&req); err != nil {
				t.Fatalf("%s %v: %v", tm.Name, params, err)
			}
			if _, err := pipeline.Parse("t.yaml", []byte(req.Pipeline), pipeline.Options{}); err != nil {
				t.Errorf("%s %v: %v\n%s", tm.Name, params, err, req.Pipeline)
			}
		}
	}
}

func TestTemplateParamsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		tmpl   string
		params map[string]any
		want   string
	}{
		{"nope", nil, `unknown template "nope"`},
		{"nexmark", map[string]any{"query": "q99"}, "want one of q0, q1, q2"},
		{"nexmark", map[string]any{"querry": "q1"}, `no parameter "querry"`},
		{"nexmark", map[string]any{"rate": "fast"}, "want a whole number"},
		{"nexmark", map[string]any{"rate": 0.5}, "want a whole number"},
		{"nexmark", map[string]any{"rate": []any{1}}, "want a string or a number"},
		{"nexmark", map[string]any{"out": "../token"}, "no '..'"},
		{"nexmark", map[string]any{"out": "a/../../b"}, "no '..'"},
		{"nexmark", map[string]any{"out": "/etc"}, "relative path"},
		{"nexmark", map[string]any{"out": "a\nb: c"}, "relative path"},
		{"video-quality", map[string]any{"threshold_percent": 101.0}, "from 1 to 100"},
	} {
		req := SubmitRequest{Template: tc.tmpl, Params: tc.params}
		err := expandTemplate(&req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: %v; want %q", tc.tmpl, tc.params, err, tc.want)
		}
	}
	req := SubmitRequest{Template: "nexmark", Pipeline: "version: 1"}
	if err := expandTemplate(&req); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("template and pipeline: %v", err)
	}
}
