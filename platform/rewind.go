package platform

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"

	"github.com/weirstream/weir/connectors/file"
	"github.com/weirstream/weir/pipeline"
)

// Rewind and restatement: a job is restored from a retained checkpoint
// chosen by time, with its pipeline fixed, and re-reads its inputs from
// that checkpoint's positions into a new version of each output, which is
// then swapped in.
//
// A file output whose pipeline path is P has versions: version 1 is the
// directory P, version n > 1 the directory P.v<n>. The symbolic link
// P.current names the current version's directory (relatively: "out",
// "out.v2"); the server makes it when the job is submitted, and a rewind
// switches it atomically: a new link is made beside it and renamed over it,
// so a reader that opens P.current/ sees one version whole, never a mix.
// The new version starts with hard links to the files the old version held
// when the checkpoint was taken — the files its commit log (the file
// sink's CommitLog) names with that checkpoint's ID or a lower one — and
// the rewound job adds what it re-reads.

// RewindRequest is the body of POST /api/v1/jobs/{id}/rewind.
type RewindRequest struct {
	// To is an RFC 3339 time — the newest retained checkpoint or
	// savepoint completed at or before it is restored — or a checkpoint's
	// name (chk-<id>, sp-<id>).
	To string `json:"to"`
	// Pipeline, when set, is the fixed pipeline's YAML; it replaces the
	// job's. Its outputs' paths are the ones it was submitted with (P, not
	// P.v<n>).
	Pipeline string `json:"pipeline,omitempty"`
	// DryRun answers what would be re-read and replaced, changing nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// RewindPlan is the answer of a rewind: what it re-reads and replaces,
// and for a rewind that was not a dry run, the job's new run.
type RewindPlan struct {
	DryRun bool `json:"dry_run"`
	// Checkpoint is the one restored: its inputs' positions are where the
	// new run reads from.
	Checkpoint      CheckpointFile `json:"checkpoint"`
	Inputs          []RewindInput  `json:"inputs"`
	Outputs         []RewindOutput `json:"outputs"`
	PipelineChanged bool           `json:"pipeline_changed"`
	Job             *Job           `json:"job,omitempty"`
}

// RewindInput is an input the rewound job reads again.
type RewindInput struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Reads is what it reads: files, topics, a generator.
	Reads string `json:"reads"`
	// From says where it starts: the positions the checkpoint recorded.
	From string `json:"from"`
	// Offsets are, for a Kafka input, the offset each partition goes back
	// to.
	Offsets []RewindOffset `json:"offsets,omitempty"`
}

// RewindOutput is an output a rewind gives a new version.
type RewindOutput struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Path is the output's path in the pipeline; Current the link that
	// names its current version.
	Path    string `json:"path"`
	Current string `json:"current,omitempty"`
	// FromVersion and FromDir are the version replaced; ToVersion and
	// ToDir the new one.
	FromVersion int    `json:"from_version"`
	FromDir     string `json:"from_dir"`
	ToVersion   int    `json:"to_version"`
	ToDir       string `json:"to_dir"`
	// KeptFiles are the old version's part files the checkpoint had
	// committed, which the new version starts with; ReplacedFiles those
	// committed after it, whose records the job re-reads.
	KeptFiles     int `json:"kept_files"`
	ReplacedFiles int `json:"replaced_files"`
	// FromTopic and ToTopic are, for a Kafka output, the topic of the
	// version replaced and the one the rewound job writes: <topic>.v<n>,
	// made with the old one's Partitions, ReplicationFactor and Configs
	// (its own settings), or the same topic when it is Compacted.
	FromTopic         string            `json:"from_topic,omitempty"`
	ToTopic           string            `json:"to_topic,omitempty"`
	Partitions        int32             `json:"partitions,omitempty"`
	ReplicationFactor int16             `json:"replication_factor,omitempty"`
	Configs           map[string]string `json:"configs,omitempty"`
	Compacted         bool              `json:"compacted,omitempty"`
	// TopicExists says that ToTopic is there already, empty.
	TopicExists bool `json:"topic_exists,omitempty"`
	// Swap says, in words, what happens to the output.
	Swap string `json:"swap"`
}

// versionsFile is the job's output versions, in its directory.
const versionsFile = "versions.json"

// outputVersions is versions.json: the pipeline as submitted (its file
// outputs at their paths P) and each file output's current version.
type outputVersions struct {
	Source   string         `json:"source"`
	Versions map[string]int `json:"versions"`
}

func loadVersions(j *job) (outputVersions, error) {
	var v outputVersions
	b, err := os.ReadFile(j.path(versionsFile))
	if errors.Is(err, fs.ErrNotExist) {
		src, err := os.ReadFile(j.path(pipelineFile))
		return outputVersions{Source: string(src), Versions: map[string]int{}}, err
	}
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("%s: %w", j.path(versionsFile), err)
	}
	if v.Versions == nil {
		v.Versions = map[string]int{}
	}
	return v, nil
}

// versionDir is the directory of version n of an output at path p.
func versionDir(p string, n int) string {
	if n <= 1 {
		return p
	}
	return p + ".v" + strconv.Itoa(n)
}

// currentLink is the link naming the current version of an output at p.
func currentLink(p string) string { return filepath.Clean(p) + ".current" }

// abs makes a pipeline's path absolute: relative ones are relative to the
// data directory.
func (s *Server) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(s.root, p)
}

// makeCurrentLinks makes P.current → P for each file output of p that has
// none yet; a job's outputs then have a current version from the start.
func (s *Server) makeCurrentLinks(p *pipeline.Pipeline) {
	for _, o := range p.Outputs {
		if o.File == nil {
			continue
		}
		dir := s.abs(o.File.Path)
		link := currentLink(dir)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err == nil {
			_ = os.Symlink(filepath.Base(dir), link)
		}
	}
}

// switchLink points link at target atomically: a new link renamed over it.
func switchLink(link, target string) error {
	tmp := link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(link))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// commitLog reads the commit logs of an output directory: each visible
// part file with the lowest checkpoint that committed it.
func commitLog(dir string) (map[string]int64, error) {
	logs, err := filepath.Glob(filepath.Join(dir, file.CommitLogName+"-*"))
	if err != nil {
		return nil, err
	}
	files := map[string]int64{}
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for n := 1; sc.Scan(); n++ {
			idText, name, ok := strings.Cut(sc.Text(), " ")
			id, err := strconv.ParseInt(idText, 10, 64)
			if !ok || err != nil || name == "" || !filepath.IsLocal(name) {
				// A torn last line of a crash; nothing was renamed after it.
				continue
			}
			if old, ok := files[name]; !ok || id < old {
				files[name] = id
			}
		}
	}
	return files, nil
}

// chooseCheckpoint finds the checkpoint a rewind's to names.
func chooseCheckpoint(dir, to string) (CheckpointFile, int, error) {
	if to == "" {
		return CheckpointFile{}, http.StatusBadRequest, errors.New(`missing to: an RFC 3339 time (such as "2026-01-02T15:04:05Z") or a checkpoint's name (chk-<id>)`)
	}
	if snapshotPattern.MatchString(to) {
		return findSnapshot(dir, to)
	}
	t, err := time.Parse(time.RFC3339Nano, to)
	if err != nil {
		return CheckpointFile{}, http.StatusBadRequest, fmt.Errorf("invalid to %q: want an RFC 3339 time (such as 2026-01-02T15:04:05Z) or chk-<id>/sp-<id>", to)
	}
	all := checkpointsOf(dir)
	var best *CheckpointFile
	for i, c := range all {
		if c.Completed.After(t) {
			continue
		}
		if best == nil || c.Completed.After(best.Completed) || c.Completed.Equal(best.Completed) && c.ID > best.ID {
			best = &all[i]
		}
	}
	if best == nil {
		msg := fmt.Sprintf("no retained checkpoint completed at or before %s", t.UTC().Format(time.RFC3339))
		if len(all) > 0 {
			oldest := slices.MinFunc(all, func(a, b CheckpointFile) int { return a.Completed.Compare(b.Completed) })
			msg += fmt.Sprintf("; the oldest is %s %d of %s (a job keeps its newest 3 and those within its retain)", oldest.Kind, oldest.ID, oldest.Completed.Format(time.RFC3339))
		}
		return CheckpointFile{}, http.StatusConflict, errors.New(msg)
	}
	return *best, 0, nil
}

// planRewind works out a rewind of j to c with the pipeline p (its YAML
// src): nothing is changed. It asks the brokers of Kafka inputs and
// outputs where their partitions stand.
func (s *Server) planRewind(ctx context.Context, c CheckpointFile, p *pipeline.Pipeline, vs outputVersions) (RewindPlan, error) {
	plan := RewindPlan{Checkpoint: c}
	positions, err := sourcePositions(c)
	if err != nil {
		return plan, fmt.Errorf("cannot read the checkpoint's source positions: %w", err)
	}
	for _, in := range p.Inputs {
		ri := RewindInput{Name: in.Name, Type: in.Type, From: fmt.Sprintf("the positions %s %d recorded for input/%s", c.Kind, c.ID, in.Name)}
		switch {
		case in.File != nil:
			ri.Reads = strings.Join(in.File.Paths, ", ")
		case in.Kafka != nil:
			ri.Reads = "topics " + strings.Join(in.Kafka.Topics, ", ")
			splits, ok := positions["input/"+in.Name]
			if !ok {
				ri.From = fmt.Sprintf("where a new job starts (%s %d has no positions for input/%s)", c.Kind, c.ID, in.Name)
				break
			}
			if ri.Offsets, err = kafkaInputOffsets(ctx, in, splits); err != nil {
				return plan, err
			}
			ri.From = fmt.Sprintf("the offsets %s %d recorded for input/%s", c.Kind, c.ID, in.Name)
		case in.Generator != nil:
			ri.Reads = "generated records (seq)"
		case in.HTTP != nil:
			ri.Reads = "HTTP ingest"
			ri.From = "what is posted from now on: HTTP ingest keeps no input to re-read"
		}
		plan.Inputs = append(plan.Inputs, ri)
	}
	for _, o := range p.Outputs {
		switch o.Type {
		case "file":
		case "kafka":
			ro, err := planKafkaOutput(ctx, o, max(vs.Versions[o.Name], 1))
			if err != nil {
				return plan, err
			}
			plan.Outputs = append(plan.Outputs, ro)
			continue
		case "stdout":
			plan.Outputs = append(plan.Outputs, RewindOutput{Name: o.Name, Type: o.Type, Swap: "write the re-read records again"})
			continue
		default:
			return plan, fmt.Errorf("output %s (line %d) is %s: a rewind makes new versions of file and Kafka outputs only (docs/serve.md says what to do with the others)", o.Name, o.Pos.Line, o.Type)
		}
		dir := s.abs(o.File.Path)
		v := max(vs.Versions[o.Name], 1)
		ro := RewindOutput{Name: o.Name, Type: o.Type, Path: o.File.Path, Current: currentLink(dir),
			FromVersion: v, FromDir: versionDir(dir, v), ToVersion: v + 1, ToDir: versionDir(dir, v+1)}
		files, err := commitLog(ro.FromDir)
		if err != nil {
			return plan, fmt.Errorf("output %s: %w", o.Name, err)
		}
		for _, id := range files {
			if id <= c.ID {
				ro.KeptFiles++
			} else {
				ro.ReplacedFiles++
			}
		}
		ro.Swap = fmt.Sprintf("make %s from the %d files the checkpoint had committed and what is re-read; switch %s to it", ro.ToDir, ro.KeptFiles, ro.Current)
		plan.Outputs = append(plan.Outputs, ro)
	}
	return plan, nil
}

// prepareVersion makes an output's new version directory: hard links to
// the old version's files the checkpoint had committed, with their commit
// log, and to its pending files, which the restored checkpoint may commit.
func prepareVersion(ro RewindOutput, upTo int64) error {
	if err := os.RemoveAll(ro.ToDir); err != nil {
		return err
	}
	if err := os.MkdirAll(ro.ToDir, 0o755); err != nil {
		return err
	}
	files, err := commitLog(ro.FromDir)
	if err != nil {
		return err
	}
	var log strings.Builder
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
	}) {
		id := files[name]
		if id > upTo {
			continue
		}
		if err := linkInto(ro.FromDir, ro.ToDir, name); err != nil {
			return err
		}
		fmt.Fprintf(&log, "%d %s\n", id, filepath.ToSlash(name))
	}
	err = filepath.WalkDir(ro.FromDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if n := d.Name(); strings.HasPrefix(n, ".part-") && strings.HasSuffix(n, ".pending") {
			rel, err := filepath.Rel(ro.FromDir, p)
			if err != nil {
				return err
			}
			return linkInto(ro.FromDir, ro.ToDir, rel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(ro.ToDir, file.CommitLogName+"-rewind"), []byte(log.String()))
}

func linkInto(from, to, rel string) error {
	dst := filepath.Join(to, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Link(filepath.Join(from, rel), dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// isolatedPart is the part of the isolated pipeline p that the job of
// output runs.
func isolatedPart(p *pipeline.Pipeline, output string) (*pipeline.Pipeline, error) {
	if !p.Isolated() {
		return nil, fmt.Errorf("the job runs output %s of a pipeline whose route isolates its outputs, and the pipeline given isolates none; keep isolate: true", output)
	}
	for _, part := range p.Split() {
		if part.Output == output {
			return part, nil
		}
	}
	return nil, fmt.Errorf("the job runs output %s, which the pipeline given does not have", output)
}

// versionedPipeline rewrites the file outputs' paths of src to their new
// versions' directories.
func versionedPipeline(src string, plan RewindPlan) (string, error) {
	f, err := parser.ParseBytes([]byte(src), parser.ParseComments)
	if err != nil {
		return "", err
	}
	for _, ro := range plan.Outputs {
		field, value := "path", versionDir(ro.Path, ro.ToVersion)
		switch ro.Type {
		case "file":
		case "kafka":
			field, value = "topic", ro.ToTopic
		default:
			continue
		}
		path, err := yaml.PathString("$.outputs." + ro.Name + "." + field)
		if err != nil {
			return "", fmt.Errorf("output %s: %w", ro.Name, err)
		}
		n, err := yaml.ValueToNode(value)
		if err != nil {
			return "", err
		}
		if err := path.ReplaceWithNode(f, n); err != nil {
			return "", fmt.Errorf("output %s: cannot set its %s: %w", ro.Name, field, err)
		}
	}
	return f.String() + "\n", nil
}

func (s *Server) rewindJob(w http.ResponseWriter, r *http.Request, j *job) {
	var req RewindRequest
	if !decodeBody(w, r, &req) {
		return
	}
	c, status, err := chooseCheckpoint(j.path(checkpoints), req.To)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	vs, err := loadVersions(j)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot read the job's versions: "+err.Error())
		return
	}
	v := j.view()
	src := vs.Source
	if req.Pipeline != "" {
		src = req.Pipeline
	}
	sub := SubmitRequest{Pipeline: src, Parallelism: v.Parallelism, CheckpointInterval: v.CheckpointInterval, Retain: v.Retain}
	p, status, e := s.checkSubmit(&sub)
	if e == nil {
		status, e = s.checkPrivileges(r, p)
	}
	if e != nil {
		writeJSON(w, status, e)
		return
	}
	whole := p
	if v.Output != "" {
		// The job of one isolated output restates that output only; its
		// siblings are jobs of their own, each rewound on its own.
		if p, err = isolatedPart(p, v.Output); err != nil {
			writeError(w, http.StatusUnprocessableEntity, "cannot rewind: "+err.Error())
			return
		}
	}
	plan, err := s.planRewind(r.Context(), c, p, vs)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "cannot rewind: "+err.Error())
		return
	}
	plan.PipelineChanged = src != vs.Source
	plan.DryRun = req.DryRun
	if req.DryRun {
		writeJSON(w, http.StatusOK, plan)
		return
	}
	if v.State.Live() {
		if _, status, err := s.stop(r.Context(), j); err != nil {
			writeError(w, status, "rewind: the job's run could not be stopped: "+err.Error())
			return
		}
	}
	versioned, err := versionedPipeline(src, plan)
	if err == nil {
		_, err = pipeline.Parse(pipelineFile, []byte(versioned), pipeline.Options{LookupEnv: noEnv, ReadFile: s.conf.readFile})
	}
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "cannot rewrite the pipeline's output paths: "+err.Error())
		return
	}
	for _, ro := range plan.Outputs {
		if ro.Type != "file" {
			continue
		}
		if err := prepareVersion(ro, c.ID); err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("output %s: cannot make version %d: %v", ro.Name, ro.ToVersion, err))
			return
		}
	}
	for _, ro := range plan.Outputs {
		if ro.Type != "kafka" {
			continue
		}
		if err := makeVersionTopic(r.Context(), outputNamed(whole, ro.Name), ro); err != nil {
			writeError(w, http.StatusBadGateway, fmt.Sprintf("output %s: cannot make version %d, the topic %s: %v", ro.Name, ro.ToVersion, ro.ToTopic, err))
			return
		}
	}
	vs.Source = src
	for _, ro := range plan.Outputs {
		if ro.Type == "file" || ro.Type == "kafka" {
			vs.Versions[ro.Name] = ro.ToVersion
		}
	}
	b, _ := json.MarshalIndent(vs, "", "  ")
	if err := writeFileAtomic(j.path(versionsFile), append(b, '\n')); err != nil {
		writeError(w, http.StatusInternalServerError, "cannot write the job's versions: "+err.Error())
		return
	}
	if err := writeFileAtomic(j.path(pipelineFile), []byte(versioned)); err != nil {
		writeError(w, http.StatusInternalServerError, "cannot write the job's pipeline: "+err.Error())
		return
	}
	for _, ro := range plan.Outputs {
		if ro.Type != "file" {
			continue
		}
		if err := switchLink(ro.Current, filepath.Base(ro.ToDir)); err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("output %s: cannot switch %s: %v", ro.Name, ro.Current, err))
			return
		}
	}
	nj, status, err := s.restoreFrom(j, c, 0)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	s.log.Info("job rewound", "job", v.ID, "to", c.Path)
	nv := nj.view()
	plan.Job = &nv
	writeJSON(w, http.StatusOK, plan)
}
