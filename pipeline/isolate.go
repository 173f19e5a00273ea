package pipeline

import (
	"path/filepath"
	"slices"
)

// A route step with `isolate: true` makes the pipeline run as one job per
// output, as Keystone ran one job per sink: each job reads the inputs from
// their own start (its own Kafka consumer group, checkpoints and restarts)
// and runs only the steps its output needs, so a slow or failing output
// holds back nothing but its own job. An input every job reads again from
// its own position must be replayable: an http input is not (its events
// are posted once, to one server), so isolate with one is a validation
// error.

// Isolated reports whether a route step of the pipeline isolates its
// outputs, so that it runs as the jobs Split returns.
func (p *Pipeline) Isolated() bool {
	for _, s := range p.Steps {
		if rs, ok := s.spec.(*routeStep); ok && rs.isolate {
			return true
		}
	}
	return false
}

// Split returns the jobs the pipeline runs as: the pipeline itself when
// no route step isolates its outputs; else one pipeline per output, in
// the order of the file, each with that output only (Output names it),
// the steps and inputs it reads from, and its own Kafka consumer groups
// (GROUP.OUTPUT) and dead-letter directory (DIR/OUTPUT). Their operator
// IDs are those of the whole pipeline.
func (p *Pipeline) Split() []*Pipeline {
	if !p.Isolated() {
		return []*Pipeline{p}
	}
	steps := map[string]*Step{}
	for _, s := range p.Steps {
		steps[s.Name] = s
	}
	parts := make([]*Pipeline, 0, len(p.Outputs))
	for _, o := range p.Outputs {
		need := map[string]bool{}
		var visit func(name string)
		visit = func(name string) {
			if name == "" || need[name] {
				return
			}
			need[name] = true
			if s := steps[name]; s != nil {
				for _, f := range s.From {
					visit(f)
				}
				if j, ok := s.spec.(*joinStep); ok {
					visit(j.with)
				}
			}
		}
		visit(o.routedBy)
		visit(o.From)
		part := *p
		part.Output = o.Name
		part.Outputs = []*Output{o}
		part.Tests = nil
		part.Inputs, part.Steps = nil, nil
		for _, in := range p.Inputs {
			if !need[in.Name] {
				continue
			}
			if in.Kafka != nil && in.Kafka.Group != "" {
				cp, k := *in, *in.Kafka
				k.Group += "." + o.Name
				cp.Kafka = &k
				in = &cp
			}
			part.Inputs = append(part.Inputs, in)
		}
		for _, s := range p.Steps {
			if need[s.Name] {
				part.Steps = append(part.Steps, s)
			}
		}
		if p.DeadLetter != nil {
			part.DeadLetter = &DeadLetter{Path: filepath.Join(p.DeadLetter.Path, o.Name)}
		}
		parts = append(parts, &part)
	}
	return parts
}

// writes reports whether the pipeline being built has output name: a
// route or a late output sends only to the outputs of its own job.
func (b *builder) writes(name string) bool {
	return slices.ContainsFunc(b.p.Outputs, func(o *Output) bool { return o.Name == name })
}

// checkIsolate checks that every input of the pipeline can be read by
// each output's job from its own position.
func (c *checker) checkIsolate(s *Step, at Pos) {
	for _, in := range c.p.Inputs {
		if in.Type == "http" {
			c.r.errorf(at, "step %q: route: isolate: input %q (type http, line %d) is not replayable: its events are posted once, to one server, and cannot be read again by each output's job; remove isolate, or read the events from a Kafka topic or files", s.Name, in.Name, in.Pos.Line)
		}
	}
}
