package pipeline

import _ "embed"

//go:embed schema.json
var jsonSchema []byte

// JSONSchema returns the JSON Schema (draft 2020-12) of the pipeline file
// format, for editors: it catches unknown fields and misspelled kinds as
// you type. Parse checks more than it can — names that refer to nothing,
// expression types — so a file the schema accepts may still fail Parse.
func JSONSchema() []byte { return append([]byte(nil), jsonSchema...) }
