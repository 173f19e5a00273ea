package weir

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/runtime"
)

// vertex is a chain of nodes that run together in one task per subtask.
type vertex struct {
	nodes       []*node // in graph order; nodes[0] is the head
	parallelism int
}

func (v *vertex) name() string {
	names := make([]string, len(v.nodes))
	for i, n := range v.nodes {
		names[i] = n.displayName()
	}
	return strings.Join(names, " -> ")
}

// plan is a validated job: node IDs and parallelism resolved, edges
// partitioned and nodes chained into vertices.
type plan struct {
	env *Env
	// attempt counts the restarts before the current run.
	attempt  int
	dead     *deadLetterOutput
	cfg      config
	vertices []*vertex
	vertexOf map[*node]*vertex
	chained  map[*edge]bool
	// perSplit holds the AssignTime steps whose source reads their event
	// times per split.
	perSplit map[*node]bool
}

// validate resolves and checks the graph; every mistake is reported, with
// the operator it concerns.
func (e *Env) validate() (*plan, error) {
	errs := append([]error(nil), e.errs...)
	if err := e.cfg.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(e.nodes) == 0 {
		errs = append(errs, errors.New("the job has no operators"))
	}
	seen := map[string]int{}
	byID := map[string]*node{}
	for _, n := range e.nodes {
		if n.parallelism == 0 && n.inheritParallelism {
			n.parallelism = n.inputs[0].from.parallelism
		}
		if n.parallelism == 0 {
			n.parallelism = e.cfg.parallelism
		}
		if n.parallelism > e.cfg.maxParallelism {
			errs = append(errs, fmt.Errorf("operator %q: parallelism %d is above max parallelism %d",
				n.displayName(), n.parallelism, e.cfg.maxParallelism))
		}
		n.id = n.uid
		if n.id == "" {
			n.id = derivedID(n, seen)
		}
		if other, dup := byID[n.id]; dup {
			errs = append(errs, fmt.Errorf("operators %q and %q have the same ID %q", other.displayName(), n.displayName(), n.id))
		}
		byID[n.id] = n
		if n.source == nil && len(n.inputs) == 0 {
			errs = append(errs, fmt.Errorf("operator %q has no input", n.displayName()))
		}
		if n.uid == deadLettersID {
			errs = append(errs, fmt.Errorf("operator %q: the ID %q is the dead-letter output's", n.displayName(), n.uid))
		}
		if n.check != nil {
			if err := n.check(); err != nil {
				errs = append(errs, fmt.Errorf("operator %q: %w", n.displayName(), err))
			}
		}
		if p := e.policyOf(n); p == DeadLetter && e.cfg.deadLetters == "" {
			errs = append(errs, fmt.Errorf("operator %q: %w", n.displayName(), errNoDeadLetters))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p := &plan{cfg: e.cfg, vertexOf: map[*node]*vertex{}, chained: map[*edge]bool{}, perSplit: map[*node]bool{}}
	stores := 0
	for _, n := range e.nodes {
		if n.keyed || n.kind == asyncMapKind {
			stores += n.parallelism
		}
	}
	p.cfg.backend = p.cfg.backend.forJob(stores)
	for _, n := range e.nodes {
		for _, in := range n.inputs {
			in.part = in.declared
			if in.part == forward && in.from.parallelism != n.parallelism {
				in.part = rebalance
			}
		}
		if len(n.inputs) == 1 && e.cfg.chaining {
			in := n.inputs[0]
			v := p.vertexOf[in.from]
			if in.part == forward && (n.kind != assignTimeKind || linear(v)) {
				if n.kind == assignTimeKind && v.nodes[0].source != nil {
					p.perSplit[n] = perSplitPath(v)
				}
				v.nodes = append(v.nodes, n)
				p.vertexOf[n] = v
				p.chained[in] = true
				continue
			}
		}
		v := &vertex{nodes: []*node{n}, parallelism: n.parallelism}
		p.vertices = append(p.vertices, v)
		p.vertexOf[n] = v
	}
	return p, nil
}

// linear reports whether every operator of the chain has one output, so
// that the chain is a path and whatever is chained to its end follows
// every operator of it. A watermark generator chains only to such a chain:
// the watermark it makes must reach its descendants only, and a task
// gives its operators their watermarks in chain order.
func linear(v *vertex) bool {
	for _, n := range v.nodes {
		if len(n.outputs) != 1 {
			return false
		}
	}
	return true
}

// perSplitPath reports whether a step chained to the end of v, a linear
// chain headed by a source, sees each record as the source emitted it from
// its split, during the split's poll: every operator between them maps or
// drops records one by one.
func perSplitPath(v *vertex) bool {
	for _, n := range v.nodes[1:] {
		if n.kind != "map" && n.kind != "filter" {
			return false
		}
	}
	return true
}

// policyOf returns the error policy of n: its own or the job's.
func (e *Env) policyOf(n *node) ErrorPolicy {
	if n.onError != nil {
		return *n.onError
	}
	return e.cfg.onError
}

// Plan validates the job and describes how it will run: one line per task
// chain with its parallelism, then one per exchange.
func (e *Env) Plan() (string, error) {
	p, err := e.validate()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, v := range p.vertices {
		fmt.Fprintf(&b, "task %s (parallelism %d)\n", v.name(), v.parallelism)
	}
	for _, v := range p.vertices {
		for _, n := range v.nodes {
			for _, out := range n.outputs {
				if !p.chained[out] {
					fmt.Fprintf(&b, "exchange %s -> %s (%s)\n", n.displayName(), out.to.displayName(), out.part)
				}
			}
		}
	}
	return b.String(), nil
}

// Validate reports every mistake in the job's description without running
// it.
func (e *Env) Validate() error {
	_, err := e.validate()
	return err
}

// Run runs the job until its bounded inputs end, an operator fails or ctx
// is canceled. With Restarts, a failure restores the latest checkpoint and
// runs again, until a run ends or the restarts run out. An Env runs once.
func (e *Env) Run(ctx context.Context) error {
	if e.ran {
		return errors.New("weir: the job has already run")
	}
	e.ran = true
	e.graphMu.Lock()
	p, err := e.validate()
	if err == nil {
		g := p.graph()
		e.graph = &g
	}
	e.graphMu.Unlock()
	if err != nil {
		return fmt.Errorf("invalid job: %w", err)
	}
	p.env = e
	cp := p.cfg.checkpoint
	var store *checkpointStore
	if cp.dir != "" {
		if store, err = openCheckpointStore(ctx, cp.dir, p); err != nil {
			return err
		}
		defer store.close()
	}
	// Checkpoints above before are this Run's: what a restart goes back to.
	before, err := store.lastID(ctx)
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	log := p.cfg.log()
	start := time.Now()
	log.Info("job starting", "operators", len(e.nodes), "parallelism", p.cfg.parallelism, "state_backend", p.cfg.backend.String(),
		"checkpoint_dir", cp.dir, "checkpoint_interval", cp.interval, "checkpoint_writers", cp.writers, "restore", cp.restore)
	err = e.runRestarting(ctx, p, store, before)
	switch {
	case err == nil:
		if sp := e.stats.stoppedWith(); sp != nil {
			log.Info("job stopped with savepoint", "id", sp.ID, "path", sp.Path, "duration", time.Since(start))
			break
		}
		log.Info("job finished", "duration", time.Since(start))
	case ctx.Err() != nil:
		log.Info("job canceled", "duration", time.Since(start), "error", err)
	default:
		log.Error(LogJobFailed, append([]any{"duration", time.Since(start)}, failureAttrs(err)...)...)
	}
	return err
}

// runRestarting runs the job, and again after each failure its restart
// strategy allows.
func (e *Env) runRestarting(ctx context.Context, p *plan, store *checkpointStore, before int64) error {
	cp := p.cfg.checkpoint
	log := p.cfg.log()
	from := cp.restore
	inARow := 0
	for {
		began := time.Now()
		err := e.runOnce(ctx, p, store, from)
		if err == nil {
			return nil
		}
		stopping := false
		if cp.stop != nil {
			select {
			case <-cp.stop:
				stopping = true
			default:
			}
		}
		if p.cfg.restart == nil || stopping || !restartable(ctx, err) {
			return err
		}
		rs := p.cfg.restart.withDefaults()
		if time.Since(began) >= rs.ResetAfter {
			inARow = 0
		}
		inARow++
		log.Error("job run failed", failureAttrs(err)...)
		if inARow > rs.MaxAttempts {
			return fmt.Errorf("%w (%d restarts in a row): %w", ErrRestartsExhausted, rs.MaxAttempts, err)
		}
		next, perr := restartPoint(ctx, store, before, cp.restore)
		if perr != nil {
			return errors.Join(err, perr)
		}
		p.attempt++
		r := Restart{Attempt: p.attempt, InARow: inARow, Cause: err, Backoff: rs.jittered(rs.backoff(inARow)),
			From: next, Time: time.Now()}
		e.stats.restart(r)
		log.Warn("job restarting", "attempt", r.Attempt, "in_a_row", r.InARow, "max_attempts", rs.MaxAttempts,
			"backoff", r.Backoff, "from", r.From, "cause", err)
		if e.cfg.onRestart != nil {
			e.cfg.onRestart(r)
		}
		if !wait(ctx, cp.stop, r.Backoff) {
			if ctx.Err() != nil {
				return fmt.Errorf("%w (canceled while waiting to restart: %w)", err, context.Cause(ctx))
			}
			return fmt.Errorf("%w (stopped while waiting to restart)", err)
		}
		from = next
	}
}

// runOnce runs the job once: restores from (if set), builds the tasks and
// executes them.
func (e *Env) runOnce(ctx context.Context, p *plan, store *checkpointStore, from string) error {
	cp := p.cfg.checkpoint
	log := p.cfg.log()
	var rc *restoredCheckpoint
	if from != "" {
		var closeRestored func() error
		var err error
		if rc, closeRestored, err = loadCheckpoint(ctx, from, store); err != nil {
			return permanent(err)
		}
		defer closeRestored()
		if err := p.matchRestored(rc); err != nil {
			return permanent(err)
		}
		restored := CheckpointMetrics{ID: rc.id, Savepoint: rc.savepoint, Path: rc.location}
		log.Info("restoring", "from", from, "kind", restored.Kind(), "id", rc.id, "path", rc.location)
		if p.attempt == 0 {
			e.stats.restoredFrom(restored)
		}
	}
	if e.cfg.deadLetters != "" {
		// Each run writes under an attempt of its own; a restart goes on
		// from the output of the failed run, as a restore does.
		var err error
		if p.dead, err = openDeadLetters(e.cfg.deadLetters, rc != nil || p.attempt > 0, e.cfg.appendDeadLetters, cp.interval > 0); err != nil {
			if p.attempt == 0 {
				return permanent(err)
			}
			return err
		}
	}
	e.running.Lock()
	e.running.counters = nil
	e.running.Unlock()
	jobCtx, cancel := context.WithCancel(ctx)
	tasks, err := p.tasks(jobCtx, rc)
	if err != nil {
		cancel()
		if p.attempt == 0 {
			// The job never ran (a source lists no splits, say): a restart
			// would find the job as it is.
			return permanent(err)
		}
		return err
	}
	var coord *runtime.Coordinator
	if cp.interval > 0 {
		last, err := store.lastID(ctx)
		if err != nil {
			cancel()
			return fmt.Errorf("checkpoints: %w", err)
		}
		first := last + 1
		if rc != nil && rc.id >= first {
			first = rc.id + 1
		}
		coord = runtime.NewCoordinator(runtime.CheckpointConfig{
			Interval:          cp.interval,
			Timeout:           cp.timeout,
			MinPause:          cp.minPause,
			TolerableFailures: cp.tolerableFailures,
			Writers:           cp.writers,
			FirstID:           first,
			Report:            func(s runtime.CheckpointStats) { e.reportCheckpoint(log, store.dir.Location(), s) },
		}, store, tasks)
	}
	if coord != nil {
		e.running.Lock()
		e.running.coord, e.running.store, e.running.done = coord, store, make(chan struct{})
		e.running.Unlock()
		defer func() {
			e.running.Lock()
			close(e.running.done)
			e.running.coord = nil
			e.running.Unlock()
		}()
	}
	if coord != nil && cp.stop != nil {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			select {
			case <-cp.stop:
				coord.Stop()
			case <-done:
			}
		})
		defer wg.Wait()
		defer close(done)
	}
	log.Info("job running", "tasks", len(tasks), "attempt", p.attempt)
	return runtime.Execute(jobCtx, cancel, tasks, coord)
}

// tasks builds every subtask of every vertex: queues for the exchanges,
// typed operator chains, inputs and source split assignments.
func (p *plan) tasks(ctx context.Context, rc *restoredCheckpoint) ([]*runtime.Task, error) {
	cfg := p.cfg
	var origins []runtime.OriginInfo
	assigned := map[*node][][]assignedSplit{}
	hubs := map[*vertex]*splitHub{}
	for _, v := range p.vertices {
		head := v.nodes[0]
		if head.source == nil {
			continue
		}
		splits, _, err := head.source.splits(ctx)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", head.displayName(), err)
		}
		index := map[string]int32{}
		origin := func(s Split) int32 {
			if i, ok := index[s.ID]; ok {
				return i
			}
			info := runtime.OriginInfo{Source: head.displayName(), Split: s.ID}
			if n, ok := head.source.(interface{ offsetName() string }); ok {
				info.Unit = n.offsetName()
			}
			origins = append(origins, info)
			index[s.ID] = int32(len(origins))
			return index[s.ID]
		}
		var restored *restoredOperator
		if rc != nil {
			restored = rc.ops[head.id]
		}
		per, err := assignRestoredSplits(restored, splits, origin, v.parallelism)
		if err != nil {
			return nil, permanent(fmt.Errorf("source %q: %w", head.displayName(), err))
		}
		assigned[head] = per
		if hub := head.source.hub(head.displayName(), v.parallelism); hub != nil {
			for _, sub := range per {
				for _, a := range sub {
					hub.known = append(hub.known, a.split.ID)
				}
			}
			if restored != nil && restored.enumerator != nil {
				hub.restored = restored.enumerator.State
			}
			if n, ok := head.source.(interface{ offsetName() string }); ok {
				hub.unit = n.offsetName()
			}
			hubs[v] = hub
		}
	}

	table := runtime.NewOriginTable(origins)
	byVertex := map[*vertex][]*runtime.Task{}
	var all []*runtime.Task
	for _, v := range p.vertices {
		for i := 0; i < v.parallelism; i++ {
			t := &runtime.Task{
				Name:          v.name(),
				Index:         len(all),
				Subtask:       i,
				Parallelism:   v.parallelism,
				Meta:          runtime.NewMeta(),
				Wake:          make(chan struct{}, 1),
				Mailbox:       make(chan func(context.Context) error, 16),
				BufferTimeout: cfg.bufferTimeout,
				Origins:       table,
			}
			byVertex[v] = append(byVertex[v], t)
			all = append(all, t)
		}
		if hub := hubs[v]; hub != nil {
			hub.tasks, hub.origins = byVertex[v], table
		}
	}

	// One queue per (upstream subtask, downstream subtask) of every edge
	// that crosses tasks; forward edges only connect equal subtasks.
	capacity := cfg.queueCapacity
	if cfg.unboundedQueues {
		capacity = 0
	}
	inFlight := cfg.inFlight()
	queues := map[*edge][][]*runtime.Queue{}
	pools := map[*edge]*sync.Pool{}
	for _, v := range p.vertices {
		for _, n := range v.nodes {
			for _, e := range n.outputs {
				if p.chained[e] {
					continue
				}
				to := byVertex[p.vertexOf[e.to]]
				qs := make([][]*runtime.Queue, v.parallelism)
				for i := range qs {
					if e.part == forward {
						q := runtime.NewQueue(capacity, to[i].Wake, ctx.Done())
						q.SetInFlightTarget(inFlight)
						qs[i] = []*runtime.Queue{q}
						continue
					}
					qs[i] = make([]*runtime.Queue, len(to))
					for j := range to {
						qs[i][j] = runtime.NewQueue(capacity, to[j].Wake, ctx.Done())
						qs[i][j].SetInFlightTarget(inFlight)
					}
				}
				queues[e] = qs
				pools[e] = e.pool(cfg.batchSize)
			}
		}
	}

	if p.dead != nil {
		p.dead.tasks = len(all)
	}
	for _, v := range p.vertices {
		for i, t := range byVertex[v] {
			if err := p.buildChain(ctx, v, i, t, queues, pools, assigned, hubs, rc); err != nil {
				return nil, err
			}
		}
	}
	return all, nil
}

func (p *plan) buildChain(ctx context.Context, v *vertex, subtask int, t *runtime.Task, queues map[*edge][][]*runtime.Queue,
	pools map[*edge]*sync.Pool, assigned map[*node][][]assignedSplit, hubs map[*vertex]*splitHub, rc *restoredCheckpoint,
) error {
	cfg := p.cfg
	// Every task has a dead-letter writer of its own, the last operator
	// of its chain, so that its dead letters are prepared at its barrier
	// like a sink's output.
	var dead *deadLetterWriter
	if p.dead != nil {
		dead = &deadLetterWriter{out: p.dead, task: t.Index}
		if rc != nil {
			if op := rc.ops[deadLettersID]; op != nil {
				dead.restored = op.share(rc.open, t.Index, p.dead.tasks).committables
			}
		}
	}
	var clock *splitClock
	for _, n := range v.nodes {
		if p.perSplit[n] {
			clock = &splitClock{}
		}
	}
	inputOf := map[*node]any{}
	ops := make([]runtime.Operator, len(v.nodes))
	ids := make([]string, len(v.nodes))
	for idx := len(v.nodes) - 1; idx >= 0; idx-- {
		n := v.nodes[idx]
		byTag := map[string][]any{}
		tagEdge := map[string]*edge{}
		var outQueues []*runtime.Queue // what the operator's output waits on when backpressured
		for _, e := range n.outputs {
			var push any
			if p.chained[e] {
				push = inputOf[e.to]
			} else {
				out, pusher := e.writer(&writerBuild{
					queues:         queues[e][subtask],
					meta:           t.Meta,
					subtask:        subtask,
					batchSize:      cfg.batchSize,
					pool:           pools[e],
					maxParallelism: cfg.maxParallelism,
					parallelism:    e.to.parallelism,
					broadcast:      e.part == broadcast,
				})
				t.Outputs = append(t.Outputs, out)
				outQueues = append(outQueues, queues[e][subtask]...)
				push = pusher
			}
			byTag[e.tag] = append(byTag[e.tag], push)
			tagEdge[e.tag] = e
		}
		b := &opBuild{
			job:         ctx,
			cfg:         cfg,
			task:        t,
			meta:        t.Meta,
			idx:         idx,
			name:        n.displayName(),
			id:          n.id,
			subtask:     subtask,
			parallelism: n.parallelism,
			keyGroups:   keygroup.RangeFor(cfg.maxParallelism, n.parallelism, subtask),
			main:        n.fanout(byTag[""]),
			sides:       map[string]any{},
			checkpoints: cfg.checkpoint.interval > 0,
			dead:        dead,
			node:        n.index,
			attempt:     p.attempt,
		}
		if p.env != nil {
			b.policy = p.env.policyOf(n)
			b.counters = func(c *counters) {
				c.outQueues = outQueues
				p.env.running.Lock()
				p.env.running.counters = append(p.env.running.counters, c)
				p.env.running.Unlock()
			}
		}
		if rc != nil {
			b.restoredID = rc.id
			if op := rc.ops[n.id]; op != nil {
				b.restore = op.share(rc.open, subtask, n.parallelism)
			}
		}
		for tag, ps := range byTag {
			if tag != "" {
				e := tagEdge[tag]
				b.sides[tag] = e.sideOut(e.fanout(ps), t.Meta, idx)
			}
		}
		if n.source != nil {
			b.splits = assigned[n][subtask]
			b.hub = hubs[v]
		}
		if n.source != nil || p.perSplit[n] {
			b.clock = clock
		}
		op, in, err := n.build(b)
		if err != nil {
			return permanent(fmt.Errorf("operator %q: %w", n.displayName(), err))
		}
		ops[idx], ids[idx] = op, n.id
		inputOf[n] = in
		if src, ok := op.(runtime.Source); ok && idx == 0 {
			t.Source = src
		}
	}
	if dead != nil {
		ops, ids = append(ops, dead), append(ids, deadLettersID)
	}
	t.Ops, t.OpIDs = ops, ids

	head := v.nodes[0]
	for _, e := range head.inputs {
		from := queues[e]
		for i := range from {
			var q *runtime.Queue
			switch {
			case e.part == forward && i == subtask:
				q = from[i][0]
			case e.part != forward:
				q = from[i][subtask]
			default:
				continue
			}
			in := inputOf[head]
			if ins, ok := in.([]any); ok {
				in = ins[e.input] // a two-input operator
			}
			t.Inputs = append(t.Inputs, &runtime.Input{Queue: q, Deliver: e.reader(in, t.Meta, pools[e])})
		}
	}
	return nil
}
