// Package checkpoint stores checkpoints and savepoints: the state files the
// operator subtasks write, and the metadata that makes a set of state files
// a checkpoint.
//
// A checkpoint is written in two phases. First every operator subtask
// writes its state file (Storage.Create, then Close, which makes the file
// durable, or Abort to give it up); files of one checkpoint may be written
// concurrently, each by one goroutine. Then the coordinator, once every subtask has acknowledged,
// calls Storage.Complete with the Metadata that lists those files. A
// checkpoint exists only from the moment its metadata is in place: until
// then it is incomplete, is never listed, never restored from, and is
// removed by Retain once a newer checkpoint has completed. This is what makes
// a crash at any moment safe: the worst it leaves is an incomplete directory.
//
// Storage is the interface a coordinator and a restore use; Dir is the
// implementation on a local (or mounted) file system. Latest and Retain are
// written once, against Storage, so every implementation orders and retains
// checkpoints the same way; the conformance suite in checkpointtest checks
// an implementation against this contract.
//
// FORMAT.md in this directory specifies the directory layout, the metadata
// file, the atomic-write protocol and retention.
package checkpoint
