package stateless

import (
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
)

// BenchmarkQueries measures the package's queries with jobtest.Bench.
func BenchmarkQueries(b *testing.B) { jobtest.Bench(b, Q0, Q1, Q2, Q10, Q13, Q14, Q21, Q22) }
