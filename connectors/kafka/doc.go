// Package kafka connects Weir jobs to Kafka: a source reading topics with
// its offsets in checkpoints, and a sink writing at least once or exactly
// once through transactions committed with checkpoints. Conn, shared by
// both, says how to reach and authenticate to the brokers.
package kafka
