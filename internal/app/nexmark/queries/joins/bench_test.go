package joins

import (
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
)

// BenchmarkQueries measures the package's queries with jobtest.Bench.
func BenchmarkQueries(b *testing.B) { jobtest.Bench(b, Q3, Q4, Q9, Q20) }
