package windows

import (
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
)

// BenchmarkQueries measures the package's queries with jobtest.Bench.
func BenchmarkQueries(b *testing.B) { jobtest.Bench(b, Q5, Q7, Q8, Q11, Q12) }
