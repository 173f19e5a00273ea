module github.com/weirstream/weir/examples/connector

go 1.26.0

require (
	github.com/weirstream/weir v0.0.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/weirstream/weir => ../..
