//go:build race

package bench

// raceEnabled is whether the tests run under the race detector, which
// slows Pebble several times over.
const raceEnabled = true
