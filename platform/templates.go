package platform

import (
	"bytes"
	"embed"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

// Built-in job templates: pipelines compiled into the binary, chosen by
// name with parameters, so that a client runs a known job without sending
// any pipeline — let alone code. Each parameter is checked against its
// kind before it is put into the pipeline, which is then checked as any
// submitted pipeline is.

//go:embed templates/*.yaml
var templateFS embed.FS

// Template is a built-in job template, as GET /api/v1/templates lists it.
type Template struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Params      []TemplateParam `json:"params"`
}

// TemplateParam is one parameter of a template.
type TemplateParam struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Kind is "int" (Min to Max), "enum" (one of Values) or "path" (a
	// relative path under the data directory: letters, digits, '.', '_',
	// '-' and '/', no "..").
	Kind    string   `json:"kind"`
	Default string   `json:"default"`
	Min     int64    `json:"min,omitempty"`
	Max     int64    `json:"max,omitempty"`
	Values  []string `json:"values,omitempty"`
}

// TemplateList is the answer of GET /api/v1/templates.
type TemplateList struct {
	Templates []Template `json:"templates"`
}

var templates = []Template{
	{
		Name:        "video-quality",
		Description: "the demo's video-quality job: generated player views, blocks of views per title, an alert when a block's error rate is too high",
		Params: []TemplateParam{
			{Name: "rate", Kind: "int", Default: "1000", Min: 1, Max: 1_000_000, Description: "views per second"},
			{Name: "views", Kind: "int", Default: "0", Min: 0, Max: 1 << 40, Description: "views to generate; 0 runs until stopped"},
			{Name: "block_size", Kind: "int", Default: "100", Min: 1, Max: 1_000_000, Description: "views per block (a count window per title)"},
			{Name: "threshold_percent", Kind: "int", Default: "10", Min: 1, Max: 100, Description: "the error rate, in percent, above which a block is an alert"},
			{Name: "out", Kind: "path", Default: "video-quality/alerts", Description: "the alerts' output directory, under the data directory"},
		},
	},
	{
		Name:        "nexmark",
		Description: "a Nexmark-style bid stream generated from its sequence number and one of the stateless queries: q0 pass-through, q1 currency conversion, q2 selection",
		Params: []TemplateParam{
			{Name: "query", Kind: "enum", Default: "q0", Values: []string{"q0", "q1", "q2"}, Description: "the query"},
			{Name: "rate", Kind: "int", Default: "10000", Min: 1, Max: 10_000_000, Description: "bids per second"},
			{Name: "events", Kind: "int", Default: "0", Min: 0, Max: 1 << 40, Description: "bids to generate; 0 runs until stopped"},
			{Name: "out", Kind: "path", Default: "nexmark/results", Description: "the results' output directory, under the data directory"},
		},
	},
}

// templatePath is what a "path" parameter may be.
var templatePath = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(/[A-Za-z0-9][A-Za-z0-9._-]{0,63}){0,7}$`)

// expandTemplate turns a submission of a template into one of its
// pipeline.
func expandTemplate(req *SubmitRequest) error {
	if req.Pipeline != "" {
		return fmt.Errorf("give a pipeline or a template, not both")
	}
	i := slices.IndexFunc(templates, func(t Template) bool { return t.Name == req.Template })
	if i < 0 {
		names := make([]string, len(templates))
		for i, t := range templates {
			names[i] = t.Name
		}
		return fmt.Errorf("unknown template %q: want one of %s (GET /api/v1/templates lists them)", req.Template, strings.Join(names, ", "))
	}
	t := templates[i]
	values := map[string]string{}
	for _, p := range t.Params {
		values[p.Name] = p.Default
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range req.Params {
			if !yield(k) {
				return
			}
		}
	}) {
		j := slices.IndexFunc(t.Params, func(p TemplateParam) bool { return p.Name == k })
		if j < 0 {
			names := make([]string, len(t.Params))
			for i, p := range t.Params {
				names[i] = p.Name
			}
			return fmt.Errorf("template %s has no parameter %q; its parameters are %s", t.Name, k, strings.Join(names, ", "))
		}
		v, err := t.Params[j].check(req.Params[k])
		if err != nil {
			return fmt.Errorf("template %s: parameter %s: %v", t.Name, k, err)
		}
		values[k] = v
	}
	src, err := templateFS.ReadFile("templates/" + t.Name + ".yaml")
	if err != nil {
		return err
	}
	tm, err := template.New(t.Name).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := tm.Execute(&b, values); err != nil {
		return err
	}
	req.Pipeline = b.String()
	if req.Name == "" {
		req.Name = t.Name
	}
	return nil
}

// check returns the value v of the parameter as the pipeline gets it.
func (p TemplateParam) check(v any) (string, error) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		s = strconv.FormatBool(v)
	default:
		return "", fmt.Errorf("want a string or a number, not %T", v)
	}
	switch p.Kind {
	case "int":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < p.Min || n > p.Max {
			return "", fmt.Errorf("%q: want a whole number from %d to %d", s, p.Min, p.Max)
		}
		return strconv.FormatInt(n, 10), nil
	case "enum":
		if !slices.Contains(p.Values, s) {
			return "", fmt.Errorf("%q: want one of %s", s, strings.Join(p.Values, ", "))
		}
		return s, nil
	case "path":
		if !templatePath.MatchString(s) || slices.Contains(strings.Split(s, "/"), "..") {
			return "", fmt.Errorf("%q: want a relative path under the data directory (letters, digits, '.', '_', '-', '/'; no '..')", s)
		}
		return s, nil
	}
	return "", fmt.Errorf("parameter of unknown kind %q", p.Kind)
}

func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, TemplateList{Templates: templates})
}
