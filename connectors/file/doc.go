// Package file reads and writes files in the manner of Flink's FileSource
// and FileSink.
//
// Its sources (JSONLinesSource, CSVSource) read JSON lines and CSV files,
// plain, gzip or zstd, from files, directories and glob patterns, each file
// a split whose position goes into checkpoints; bounded, or watching for new
// files (SourceConfig.Watch). Each record's offset is its line number, and a
// record that does not decode is rejected to the job's error policy with its
// text, file and line. docs/files.md is their reference: which files are
// read, what a producer must do, positions and restores, blank lines and bad
// input.
//
//	src, err := file.JSONLinesSource(file.SourceConfig{
//		Paths: []string{"/data/in/*.jsonl.gz"},
//		Watch: true,
//	}, format.JSON[Order]())
//
// The rest of this comment is about its sink.
//
// The sink writes records to part files exactly once, in the manner of
// Flink's FileSink: records go to hidden files that become
// visible, each by one atomic rename, only when the checkpoint that covers
// them has completed. Readers that skip hidden files (names starting with a
// dot) see the output of completed checkpoints, each record exactly once,
// whatever crashed and when.
//
//	sink, err := file.New(file.Config[Order]{
//		Dir:              "/data/orders",
//		Format:           file.JSONLines[Order](),
//		Ext:              ".jsonl",
//		EventTimeBuckets: "2006-01-02--15",
//	})
//	…
//	weir.To(orders, sink)
//
// Part files hold lines (Config.Format: JSONLines, Lines) or are written by
// an Encoding: CSV with a header row, or Parquet, a bulk format whose
// footer ends each file. Every format's files are rolled at every
// checkpoint, so a committed file is always whole.
//
// # How the runtime drives a writer
//
// Each subtask's Writer implements weir.SinkWriter, weir.TwoPhaseWriter and
// weir.EventTimeWriter, and expects this sequence, all on its task's
// goroutine:
//
//  1. Open once per subtask.
//  2. On a restore, before any write: Commit with the committables the
//     subtask is handed from the restored checkpoint. After a rescale they
//     may come from other, old subtasks; over all new subtasks they must be
//     exactly the set the checkpoint held. Commit is idempotent, so a
//     committable committed before the crash may be committed again.
//  3. Write or WriteEventTime for each record.
//  4. At every checkpoint barrier, Prepare(checkpointID): every file
//     written since the previous Prepare is flushed, fsynced, closed and
//     renamed to its pending name, the directories are fsynced, and the
//     returned committable names the pending files. Checkpoint IDs must
//     increase.
//  5. When that checkpoint has completed, Commit with its committable
//     (several checkpoints' committables may come in one call): each
//     pending file is renamed to its visible name, then the directories are
//     fsynced.
//  6. Close. A bounded job ends with a final checkpoint (Prepare, Commit),
//     then Close. After a failure Close comes without a Commit, and what was
//     not committed stays invisible: Close deletes the files no Prepare has
//     handed out, and leaves pending the ones a checkpoint may name.
//
// The process may die at any point — while writing, between Prepare and
// Commit, in the middle of a Commit of many files. After the restart, step
// 2 finishes what the completed checkpoint promised, and files that no
// completed checkpoint names stay hidden until they are removed (see
// Cleanup).
//
// A checkpoint may be aborted after its Prepare (another task declined it,
// say). Its committable names records no other committable names, so the
// runtime must keep it and commit it with the next checkpoint that
// completes, and a checkpoint must hold every committable not yet known to
// be committed, its own and those of earlier checkpoints, for a restore to
// commit. Committing a file twice is harmless.
//
// # Without checkpoints
//
// A job without checkpoints replays nothing, so the runtime commits each
// subtask's output when that subtask's input ends: Prepare(0), then Commit,
// then Close. A bounded job's output thus appears when its input ends, all
// at once; until then it is in hidden files (in-progress, and pending once
// rolled). Each subtask commits on its own, so in a job of several
// subtasks one may have committed when another fails. A subtask that fails
// or is canceled before its input ends commits nothing: Close deletes its
// files, and a job that reads an unbounded input without checkpoints never
// makes anything visible. Example_withoutCheckpoints shows both.
//
// # Files
//
// Under the base directory (Config.Dir), in the directory given by
// Config.Partition and Config.EventTimeBuckets, a part file goes through
// three names:
//
//	.part-<subtask>-<attempt>-<seq><ext>.inprogress   being written
//	.part-<subtask>-<attempt>-<seq><ext>.pending      closed and fsynced, awaiting commit
//	part-<subtask>-<attempt>-<seq><ext>               committed: the output
//
// The attempt is 16 random hex digits drawn by New, shared by the subtasks
// of one Sink value, so a restarted job (with a new Sink) never reuses a
// name; seq counts the files of one subtask from 0. The committed output is
// exactly the set of files whose names do not start with a dot. A
// subtask has one in-progress file per directory, and rolls it (makes it
// pending and starts another at the next record) when it reaches
// Config.RollSize bytes, when a record arrives Config.RollInterval or more
// after it was opened, and at every Prepare. Files are never empty: a file
// none of whose records could be encoded is removed when it rolls.
//
// Partition and bucket directories must be relative slash-separated paths
// without empty, ".", ".." or hidden segments; the sink also opens its base
// directory as an os.Root, so nothing, not even a symbolic link, takes a
// write outside it.
//
// # Commit and its idempotence
//
// Committing a file renames its pending name to its visible one. If the
// pending file is gone and the visible one exists with the size the
// committable recorded, the file was committed before and is skipped. If
// neither exists, Commit fails with an error naming the file, since its
// records are lost; so is a size that differs from the recorded one, and a
// pending file whose visible name is taken. Consequently committed files must
// not be moved or deleted while a checkpoint naming them may still be
// restored.
//
// # Committable format
//
// A committable is "WFSC", a version byte (1), the package codec encoding
// of
//
//	struct {
//		Attempt    string // of the writer that prepared it
//		Subtask    int    // that prepared it
//		Checkpoint int64
//		Files      []struct{ Dir, Name string; Size int64 }
//	}
//
// and a big-endian CRC-32C of all that. Dir is relative to the base
// directory, so a restored job must use the same Config.Dir. Commit rejects
// a committable with another magic, an unknown version, a wrong checksum or
// a name that is not a part file in a safe directory.
//
// # Cleanup
//
// A crashed attempt leaves hidden files that no completed checkpoint names:
// in-progress files, and pending files of checkpoints that never
// completed. Subtask 0 removes them: at its first Commit after its first
// Prepare, that is once the first checkpoint of the new run has completed,
// it walks the base directory and deletes every hidden part file whose
// attempt is not its own. It does not do so right after the restore Commit:
// the other subtasks may still be committing, in their own restore Commits,
// pending files of the old attempt, and only a completed checkpoint proves
// that every subtask is past that step. It touches no file of its own
// attempt (those of concurrent subtasks) and no file whose name is not a
// part file's.
//
// Hence one base directory belongs to one sink of one job: two sinks
// writing the same directory would delete each other's pending files, and
// so would an old attempt still running beside its replacement.
package file
