// Package journal is Weir's embedded durable log: a directory of
// partitions, each a sequence of segment files of length-prefixed,
// CRC-checked records, every record with its offset in the partition and
// its append time.
//
// One process writes a journal, and any number of readers read it in that
// process: Open takes an exclusive lock on the directory. Append returns
// once its records are durable (written and fsynced); concurrent Appends
// share the writes and the fsyncs (group commit), so a collector taking
// many small requests at once pays for few fsyncs. A torn tail, left when
// the process died during an append that was never acknowledged, is found
// by its checksum and cut when the journal is next opened.
//
// Readers (NewReader) read committed records only, from an offset of
// their own, in bounded chunks, and can be woken by commits. Source reads
// a journal in a Weir job: one split per partition, offsets in
// checkpoints, records decoded by a format.Decoder. Reading deletes
// nothing: segments go when the retention policy (age, total bytes) has
// left them wholly behind, so a job restored from an old checkpoint reads
// again what is still kept, and a reader whose offset is gone gets an
// *OffsetError (or, with SourceConfig.SkipDeleted, starts at the first
// record kept).
//
// Partition maps a key (a view ID, say) to a partition with a stable hash,
// so that one key's records stay in order in one partition.
//
// docs/ingest.md describes the layout on disk, the guarantees and the
// configuration, with the HTTP collector (package httpingest) that
// appends to a journal.
package journal
