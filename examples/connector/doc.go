// Package connector is an example of a connector written outside Weir's
// module, against its public packages only, and tested with the
// conformance suite (package connectortest), as a connector of one's own
// would be.
//
// It holds a source and a sink:
//
//   - SegmentSource tails the numbered segment files of a directory
//     (seg-000001.log, seg-000002.log, …), one split each, a record a
//     line; it finds segments that appear while the job runs, and its
//     readers wake their task when their file grows instead of being
//     polled.
//   - BatchSink writes, for each subtask and checkpoint, one batch file
//     that becomes visible by a rename once the checkpoint completes:
//     exactly-once output, in the manner of a transactional sink. On open
//     it aborts the transactions that earlier runs left and the restored
//     checkpoint does not hold (weir.SinkInfo.RestoredCheckpointID).
//
// A program reads and writes them like the built-in connectors:
//
//	src := weir.From(env, connector.Segments("/data/in", time.Second))
//	weir.To(src, connector.Batches("/data/out"))
package connector
