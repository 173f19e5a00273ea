package weir

// JobGraph is the shape of a job as it runs: its operators, each with its
// parallelism and the task chain it runs in, and the edges between them.
// A dashboard draws it beside the figures of JobMetrics, whose operator
// IDs are the same.
type JobGraph struct {
	Operators []GraphOperator
	Edges     []GraphEdge
}

// GraphOperator is one operator of a JobGraph.
type GraphOperator struct {
	// ID is the operator's ID (its UID, or the one derived from its place
	// in the graph), as in OperatorMetrics.ID.
	ID string
	// Name is the operator's name, or its kind when it has none.
	Name string
	// Kind is what the operator does: "source", "map", "filter", "sink",
	// "window" and so on.
	Kind        string
	Parallelism int
	// Task is the index of the task chain the operator runs in: operators
	// of the same task are chained, and pass records by function call.
	Task int
}

// GraphEdge is one edge of a JobGraph, from an operator's output to
// another operator's input.
type GraphEdge struct {
	From, To string // operator IDs
	// Partitioning is how records cross it: "forward", "rebalance", "hash"
	// or "broadcast".
	Partitioning string
	// Chained is true when both ends run in the same task.
	Chained bool
	// SideOutput is the tag of the side output the edge leaves from; empty
	// for the main output.
	SideOutput string
}

// Graph validates the job and returns its graph. Once Run has started it
// returns the graph Run validated, and may be called from any goroutine
// while the job runs.
func (e *Env) Graph() (JobGraph, error) {
	e.graphMu.Lock()
	defer e.graphMu.Unlock()
	if e.graph != nil {
		return *e.graph, nil
	}
	p, err := e.validate()
	if err != nil {
		return JobGraph{}, err
	}
	return p.graph(), nil
}

// graph returns the JobGraph of p.
func (p *plan) graph() JobGraph {
	var g JobGraph
	task := map[*vertex]int{}
	for i, v := range p.vertices {
		task[v] = i
	}
	for i, v := range p.vertices {
		for _, n := range v.nodes {
			g.Operators = append(g.Operators, GraphOperator{ID: n.id, Name: n.displayName(), Kind: n.kind, Parallelism: n.parallelism, Task: i})
		}
	}
	for _, v := range p.vertices {
		for _, n := range v.nodes {
			for _, out := range n.outputs {
				g.Edges = append(g.Edges, GraphEdge{From: n.id, To: out.to.id, Partitioning: out.part.String(),
					Chained: p.chained[out], SideOutput: out.tag})
			}
		}
	}
	return g
}
