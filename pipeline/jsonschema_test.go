package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSONSchema()))
	if err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("pipeline.json", doc); err != nil {
		t.Fatal(err)
	}
	// Compile checks the schema against its draft's meta-schema.
	s, err := c.Compile("pipeline.json")
	if err != nil {
		t.Fatalf("the schema is not a valid JSON Schema: %v", err)
	}
	return s
}

func validateYAML(t *testing.T, s *jsonschema.Schema, path string) error {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s.Validate(v)
}

// The JSON Schema is a valid draft 2020-12 schema, the example pipelines
// and the valid test files satisfy it, and files with unknown fields or
// kinds do not.
func TestJSONSchema(t *testing.T) {
	s := compileSchema(t)
	valid, _ := filepath.Glob("../examples/pipelines/*.yaml")
	more, _ := filepath.Glob("testdata/valid/*.yaml")
	valid = append(valid, more...)
	if len(valid) < 2 {
		t.Fatalf("only %d valid files", len(valid))
	}
	for _, path := range valid {
		if err := validateYAML(t, s, path); err != nil {
			t.Errorf("%s does not satisfy the schema: %v", path, err)
		}
	}
	for _, path := range []string{"testdata/errors/several.yaml", "testdata/errors/values.yaml"} {
		if err := validateYAML(t, s, path); err == nil {
			t.Errorf("%s satisfies the schema", path)
		}
	}
}
