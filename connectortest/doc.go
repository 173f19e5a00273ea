// Package connectortest is the conformance suite for source and sink
// connectors. Like testing/fstest and testing/slogtest it runs from a
// connector's own tests, in any module, and uses only Weir's public API:
// every check is a real job (weir.New, weir.From, weir.To) taking
// checkpoints into a temporary directory, stopping with savepoints,
// restoring at another parallelism, failing and restarting, and writing
// dead letters.
//
// A connector author describes the connector with a Source or a Sink — a
// fixture that writes test data where the source reads it, or reads back
// what the sink committed — declares what it can do in its Capabilities,
// and calls RunSource or RunSink from a test:
//
//	func TestConformance(t *testing.T) {
//		connectortest.RunSource(t, connectortest.Source[string]{
//			Setup:  setupSegments, // writes Input's records into a temporary directory
//			Decode: decode,        // the job's decode step: rejects the bad records
//		})
//	}
//
// Each check is a subtest; one the connector does not declare it can pass
// is skipped, saying why. The source checks:
//
//   - Read: a job opens every split and reads every record once.
//   - Position: a job stopped with a savepoint part way through, then
//     restored, reads the rest: no record twice, none missing.
//   - Rescale: the same across a change of parallelism (1 to 2, 2 to 1).
//   - ExactlyOnceRestart: an operator fails once after a checkpoint and
//     the job restarts itself (weir.Restarts); an exactly-once sink's
//     output equals that of an uninterrupted run. A source that discovers
//     splits or reads appended records also gets a split or records added
//     just before that checkpoint.
//   - Discovery (Capabilities.Discovery): splits added while the job runs
//     are read, and a restored job does not read them again.
//   - Append (Capabilities.Append): records added to existing splits while
//     the job runs, or while it is stopped, are read once.
//   - Cancel: canceling the job's context while the source waits for data
//     stops the job within a generous bound, every split reader opened is
//     closed once, and no goroutine is left (go.uber.org/goleak).
//   - DeadLetters: records the job's decode step rejects go to the
//     dead-letter output under weir.DeadLetter, and the operators' counts
//     balance.
//
// The sink checks:
//
//   - Write: a bounded job with checkpoints commits every record.
//   - WriteWithoutCheckpoints: so does one without checkpoints.
//   - StopAndRestore: a job stopped with a savepoint has committed exactly
//     what it read; restored, it commits the rest.
//   - Rescale (Capabilities.Rescale): the same across a change of
//     parallelism.
//   - ExactlyOnceRestart: an operator fails once after a checkpoint and the
//     job restarts itself; the committed output equals an uninterrupted
//     run's (Capabilities.ExactlyOnce), or holds every record at least once.
//   - CancelAndRestore: a canceled job (a crash, to the sink) leaves no
//     duplicate committed, and restored from its latest checkpoint
//     commits the rest.
//   - CommitOnRestore (Capabilities.ExactlyOnce): the job dies between a
//     checkpoint's completion and the sink's commit (the suite drops the
//     Commit calls): nothing is visible, and the restored job, at
//     parallelism 1 when the sink can change it, commits what the
//     checkpoint held.
//
// The source checks write through an exactly-once sink of the suite's own,
// in memory, and the sink checks read from a source of the suite's own, so
// a failure points at the connector under test. Wrapped around the source
// under test, the suite checks the split reader contract as it goes:
// Poll emits at most the records asked for, and every reader opened is
// closed once.
//
// Records are compared as multisets of the strings Key returns (fmt.Sprint
// by default), so a fixture's records must be distinct by Key. The suite
// uses a few hundred records and tens of short jobs; it runs in seconds.
//
// The Cancel checks use goleak, which sees every goroutine of the test
// binary: run the suite from tests that do not run in parallel with
// others (no t.Parallel), or those tests' goroutines count as leaks.
package connectortest
