// Package pipeline runs declarative pipelines: a YAML file of inputs,
// steps and outputs that Weir runs on the same runtime, with the same
// checkpoints, savepoints, restarts and exactly-once outputs, as a job
// written in Go.
//
//	version: 1
//	inputs:
//	  events:
//	    type: file
//	    path: events/*.jsonl
//	    schema: {id: int, type: string, amount: float}
//	steps:
//	  - name: big
//	    filter: amount > 100
//	  - name: by-type
//	    route:
//	      cases:
//	        - when: type == "purchase"
//	          to: purchases
//	          project: {id: id, cents: int(amount * 100)}
//	outputs:
//	  purchases: {type: file, path: out/purchases}
//
// A file goes through three stages. Parse reads it into a Pipeline,
// reporting every mistake at once as Errors, each with its file, line,
// column, the line and a caret under the column: YAML that is not YAML,
// unknown fields, names that refer to nothing, and expressions that do not
// compile or have the wrong type against the inputs' declared schemas.
// Build then adds the pipeline to a weir.Env as sources, operators and
// sinks of the public DataStream API and the connectors — there is no
// second runtime. Test runs the test cases a file carries.
//
// Records are format.Record values: schemaless JSON, or, with a declared
// schema, records whose fields are converted to their declared types as
// they are read. Expressions are those of expr-lang/expr; the common ones
// run as compiled closures, the rest on expr's VM.
//
// Each kind of step (filter, map, project, route, script, unnest, window,
// join, dedupe, enrich) reads its own YAML node, checks it against the
// schema of its input and builds its operators; new kinds register in the
// same table. A script step runs
// JavaScript (goja) in a sandbox per subtask, with keyed state and a file
// reloaded at checkpoint barriers. Operator IDs come from the names of
// inputs, steps and outputs, never from their positions, so a savepoint
// restores into a pipeline whose steps were added or reordered.
//
// An enrich step looks records up over HTTP or in PostgreSQL, and a
// webhook output posts them, through weir.AsyncMap; an http input serves
// the HTTP collector of connectors/httpingest while Job.Run runs the job.
//
// docs/pipelines.md is the reference of the format and the commands (weir
// run, validate, test and schema) that use this package.
package pipeline
