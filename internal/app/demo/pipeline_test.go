package demo_test

import (
	"testing"

	"github.com/weirstream/weir/internal/app/demo"
	"github.com/weirstream/weir/pipeline"
)

// The pipeline weir demo submits to its server is valid.
func TestPipelineIsValid(t *testing.T) {
	if _, err := pipeline.Parse("demo.yaml", []byte(demo.Pipeline(100, "demo/beacons")), pipeline.Options{}); err != nil {
		t.Fatalf("%v\n%s", err, demo.Pipeline(100, "demo/beacons"))
	}
}
