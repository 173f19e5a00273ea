// Package platform is Weir's job server, what `weir serve` runs: one
// process that keeps many pipeline jobs running, each in a `weir run`
// process of its own, behind a REST API protected by a token, with the jobs'
// figures on /metrics in the Prometheus text format.
//
// Everything the server keeps is under one data directory:
//
//	DIR/token             the API token (mode 0600), made on first start
//	DIR/admin-token       the admin token (mode 0600): also script steps
//	                      and lookups beyond the enrich allow-list
//	DIR/server.lock       held (flock) by the one server using DIR
//	DIR/jobs/<id>/        one directory per job:
//	    job.json          what was submitted and the job's state
//	    pipeline.yaml     the pipeline, as submitted
//	    lock              held (flock) by the server and the job's process
//	    checkpoints/      the job's checkpoints and savepoints
//	    job.log           the job's standard output and error, rotated by
//	                      size into job.log.1 … (joblog.go)
//	    control.sock      the job process's control socket while it runs
//	    versions.json     after a rewind: its file and Kafka outputs' versions
//
// Jobs are restored, rescaled, rewound (a new version of each file output,
// switched in by a link, P.current; a new versioned topic T.v<n> of each
// Kafka output, rewind_kafka.go) and deleted by the routes of ops.go
// and rewind.go; built-in templates (templates.go) are pipelines embedded
// in the binary.
//
// A job is supervised by a goroutine of the server: it starts the job's
// process (`weir run … --restore latest` once a checkpoint exists), waits
// for it, and restarts it with a growing backoff when it fails, until it
// has failed too often in a window; then the job is failed, with the last
// error its process printed. The processes die with the server
// (Pdeathsig), and a job's lock, which its process inherits, keeps a new
// server from starting it again before the old process is gone. A server
// started again on the same directory brings back every job that was
// running, from its latest checkpoint.
//
// The server's address in a browser is the dashboard (dashboard.go): a
// page embedded in the binary, from platform/ui, that signs in with the
// token once for a session cookie (session.go) and draws each job's graph,
// the last hour of its figures (sampled by the server, history.go), its
// checkpoints, dead letters and log.
//
// The package uses only Weir's public API and the pipeline package; the
// command line joins it to the weir command (package platform/command).
// docs/serve.md describes the server, docs/security.md its defences.
package platform
