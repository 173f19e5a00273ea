// Package nats connects Weir jobs to NATS JetStream: a source reading a
// stream with its stream sequence numbers in checkpoints, and a sink
// publishing to a stream with message deduplication IDs (Nats-Msg-Id), so
// that the records a restored job writes again are dropped by the
// server's duplicate window. Conn, shared by both, says how to reach and
// authenticate to the servers. See docs/connectors.md.
package nats
