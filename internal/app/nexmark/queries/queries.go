// Package queries lists the Nexmark queries Weir implements, q0–q22 but q6
// (its reference SQL needs an OVER window no engine in the suite runs).
package queries

import (
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/queries/aggregates"
	"github.com/weirstream/weir/internal/app/nexmark/queries/joins"
	"github.com/weirstream/weir/internal/app/nexmark/queries/stateless"
	"github.com/weirstream/weir/internal/app/nexmark/queries/windows"
)

// All returns every query, in the order of their numbers.
func All() []job.Query {
	return []job.Query{
		stateless.Q0, stateless.Q1, stateless.Q2, joins.Q3, joins.Q4,
		windows.Q5, windows.Q7, windows.Q8, joins.Q9, stateless.Q10,
		windows.Q11, windows.Q12, stateless.Q13, stateless.Q14,
		aggregates.Q15, aggregates.Q16, aggregates.Q17, aggregates.Q18, aggregates.Q19, joins.Q20,
		stateless.Q21, stateless.Q22,
	}
}

// ByName returns the query called name ("q5"), and whether there is one.
func ByName(name string) (job.Query, bool) {
	for _, q := range All() {
		if q.Name == name {
			return q, true
		}
	}
	return job.Query{}, false
}

// Names returns the names of every query, in order.
func Names() []string {
	var out []string
	for _, q := range All() {
		out = append(out, q.Name)
	}
	return out
}
