//go:build race

package pebble_test

// raceEnabled tells that the tests run with the race detector, which makes
// the largest ones too slow to run whole.
const raceEnabled = true
