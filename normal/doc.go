// Package normal keeps a streaming model of what is normal for a numeric
// series and scores each new value in [0, 1] by how anomalous it is, using
// only the values before it.
//
// A Model learns a series' level, its daily or weekly profile when the data
// has one, and the size of its usual deviations; it adapts to slow drift
// and to level shifts that persist, and it does not score anything during
// its warm-up. Its state has a fixed size and a compact binary encoding
// (MarshalBinary, UnmarshalBinary), so a keyed operator can keep one model
// per key in Weir's state backend.
//
// Scores at or above Threshold are anomalies. Scorer scores keyed points in
// a job; AlertTracker, and Alerter in a job, turn scores into alerts that
// open and close with hysteresis. docs/normal.md describes the model, the
// alerts and the results on the Numenta Anomaly Benchmark.
package normal
