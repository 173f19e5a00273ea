package aggregates

import (
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
)

// BenchmarkQueries measures the package's queries with jobtest.Bench.
func BenchmarkQueries(b *testing.B) { jobtest.Bench(b, Q15, Q16, Q17, Q18, Q19) }
