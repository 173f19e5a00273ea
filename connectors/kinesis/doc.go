// Package kinesis reads and writes Amazon Kinesis Data Streams: a source
// whose splits are the stream's shards, read in the order resharding
// requires (a child shard after its parents) with each shard's sequence
// number in checkpoints, and an at-least-once sink writing with
// PutRecords in batches.
package kinesis
