// Package command holds the weir verbs of the platform: `weir serve`, the
// job server, and `weir jobs`, the command line over its API. The weir
// command adds them to its others.
package command

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirstream/weir/platform"
)

// DefaultPort is the port `weir serve` listens on, and `weir jobs` calls,
// by default.
const DefaultPort = 7070

// Serve returns `weir serve`. Closing stop (the first Ctrl-C) shuts the
// server down in order: its jobs stop with a savepoint and come back when
// it starts again; canceling the command's context kills them.
func Serve(stop <-chan struct{}) *cobra.Command {
	var (
		dir, listen, cert, key, logLevel string
		configFile                       string
		port                             int
		plainHTTP                        bool
		retain                           string
		enrichAllow                      []string
		jobLogMax                        int64
		jobLogFiles                      int
	)
	cmd := &cobra.Command{
		Use:   "serve --data DIR",
		Short: "Run the job server: many pipelines, a REST API and Prometheus metrics",
		Long: `Run Weir's job server. It keeps the pipelines submitted to it running, each
in a 'weir run' process of its own, restarting a job that fails from its
latest checkpoint and failing it when it keeps failing; it answers a REST
API (weir jobs is its command line) and serves the jobs' figures on
/metrics in the Prometheus text format.

Everything it keeps is under --data: the API token, and each job's
pipeline, checkpoints and log. On first start it makes the token, stores
it in DIR/token (mode 0600) and prints it once. Every route but /healthz and
/metrics needs it, as the header "Authorization: Bearer TOKEN".

It listens on 127.0.0.1 only, unless --listen names another address; there it
needs --tls-cert and --tls-key (or --plain-http, which sends the token in the
clear). Stopped (Ctrl-C, SIGTERM) it stops its jobs with a savepoint; started
again on the same DIR it brings every job back from its latest checkpoint,
also after it was killed. docs/serve.md describes it, docs/security.md its
defences.`,
		Example: `  weir serve --data /var/lib/weir
  export WEIR_TOKEN=$(cat /var/lib/weir/token)
  weir jobs submit router.yaml --name router
  weir jobs list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("weir serve needs --data DIR, the directory it keeps its jobs in")
			}
			if port < 0 || port > 65535 {
				return fmt.Errorf("invalid --port %d: want 0 (any free port) to 65535", port)
			}
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			if cmd.Flags().Changed("listen") {
				if cmd.Flags().Changed("port") {
					return errors.New("give --listen HOST:PORT or --port, not both")
				}
				addr = listen
			}
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return fmt.Errorf("invalid --listen %q: want HOST:PORT", addr)
			}
			if (cert == "") != (key == "") {
				return errors.New("--tls-cert and --tls-key go together")
			}
			if ip := net.ParseIP(host); cert == "" && !plainHTTP && (ip == nil || !ip.IsLoopback()) && host != "localhost" {
				return fmt.Errorf("--listen %s is not a loopback address: give --tls-cert and --tls-key, or --plain-http to send the token in the clear", addr)
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", logLevel)
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("cannot find the weir binary to run jobs in: %w", err)
			}
			alerting, err := loadServerConfig(configFile)
			if err != nil {
				return err
			}
			stderr := &lockedWriter{w: cmd.ErrOrStderr()}
			logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
			if jobLogMax < 1 {
				return fmt.Errorf("--job-log-max-bytes %d: want at least 1", jobLogMax)
			}
			if jobLogFiles < 0 || jobLogFiles > 100 {
				return fmt.Errorf("--job-log-files %d: want 0 to 100", jobLogFiles)
			}
			if jobLogFiles == 0 {
				jobLogFiles = -1
			}
			cfg := platform.Config{Dir: dir, Executable: exe, Logger: logger, Alerting: alerting, LogMaxBytes: jobLogMax, LogFiles: jobLogFiles}
			if err := opsServeFlags(&cfg, retain, enrichAllow); err != nil {
				return err
			}
			s, err := platform.Open(cfg)
			if err != nil {
				return err
			}
			defer s.Close()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			scheme := "http"
			if cert != "" {
				scheme = "https"
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "weir serve: data directory %s\n", s.Dir())
			if tok, ok := s.NewToken(); ok {
				fmt.Fprintf(out, "weir serve: API token (shown this once; it is also in %s/token):\n%s\n", s.Dir(), tok)
			}
			if tok, ok := s.NewAdminToken(); ok {
				fmt.Fprintf(out, "weir serve: admin token, for pipelines with script steps or lookups beyond --enrich-allow (shown this once; it is also in %s/admin-token):\n%s\n", s.Dir(), tok)
			}
			fmt.Fprintf(out, "weir serve: listening on %s://%s\n", scheme, ln.Addr())
			fmt.Fprintf(out, "weir serve: dashboard at %s://%s/ (sign in with the API token)\n", scheme, ln.Addr())
			return serveHTTP(cmd.Context(), stop, s, ln, cert, key)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "data", "", "the `directory` the server keeps its token and jobs in (made, mode 0700, when missing)")
	f.IntVar(&port, "port", DefaultPort, "listen on 127.0.0.1 at this port (0: any free port)")
	f.StringVar(&listen, "listen", "", "listen at this `HOST:PORT` instead; other than loopback it needs TLS")
	f.StringVar(&cert, "tls-cert", "", "serve HTTPS with this certificate `file` (PEM)")
	f.StringVar(&key, "tls-key", "", "and this private key `file` (PEM)")
	f.BoolVar(&plainHTTP, "plain-http", false, "allow plain HTTP on a non-loopback --listen address (the token then crosses the network in the clear)")
	f.StringArrayVar(&enrichAllow, "enrich-allow", nil, "let submitted pipelines' HTTP enrich steps look up URLs under this `prefix` (http(s)://host[:port][/path], repeatable); none by default")
	f.StringVar(&retain, "retain", "", "keep each job's checkpoints completed within this `duration` (such as 7d), so it can be rewound that far; a job's own retain wins")
	f.Int64Var(&jobLogMax, "job-log-max-bytes", 8<<20, "move a job's log aside (to job.log.1, …) once it has grown past this many `bytes`")
	f.IntVar(&jobLogFiles, "job-log-files", 3, "keep this many older log files of each job (job.log.1 to job.log.N; 0 keeps none)")
	f.StringVar(&logLevel, "log-level", "info", "log the server's events at this level and above to standard error: debug, info, warn or error")
	f.StringVar(&configFile, "config", "", "the server's configuration `file` (YAML: alert rules and where alerts go, docs/serve.md)")
	return cmd
}

// NewHTTPServer returns the http.Server weir serve runs h in: timeouts
// bound how long a slow client holds a connection.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		// Stopping a job with a savepoint is answered when it is done.
		WriteTimeout:   10 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		TLSConfig:      &tls.Config{MinVersion: tls.VersionTLS12},
		ErrorLog:       nil,
	}
}

func serveHTTP(ctx context.Context, stop <-chan struct{}, s *platform.Server, ln net.Listener, cert, key string) error {
	srv := NewHTTPServer(s.Handler())
	served := make(chan error, 1)
	go func() {
		if cert != "" {
			served <- srv.ServeTLS(ln, cert, key)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-served:
		return err
	case <-stop:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-served
	return nil
}

// lockedWriter serializes writes from the server's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Jobs returns `weir jobs` and its verbs.
func Jobs() *cobra.Command {
	var server, tokenFile string
	var asJSON bool
	client := func() (*platform.Client, error) {
		tok := os.Getenv("WEIR_TOKEN")
		if tokenFile != "" {
			b, err := os.ReadFile(tokenFile)
			if err != nil {
				return nil, fmt.Errorf("--token-file: %w", err)
			}
			tok = string(b)
		}
		tok = strings.TrimSpace(tok)
		if tok == "" {
			return nil, errors.New("no API token: set WEIR_TOKEN or give --token-file (the server's DIR/token)")
		}
		return &platform.Client{Server: server, Token: tok, HTTP: &http.Client{Timeout: 15 * time.Minute}}, nil
	}
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Submit, list and control the jobs of a weir serve",
		Long: `Submit pipelines to a job server (weir serve), list its jobs, show one, take
a savepoint of one, stop one with a savepoint or cancel it. The token comes
from the environment (WEIR_TOKEN) or --token-file.`,
		Example: `  export WEIR_TOKEN=$(cat /var/lib/weir/token)
  weir jobs submit router.yaml --name router --parallelism 2
  weir jobs list
  weir jobs show j1a2b3c4d5e6f
  weir jobs savepoint j1a2b3c4d5e6f
  weir jobs stop j1a2b3c4d5e6f`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&server, "server", "http://127.0.0.1:"+strconv.Itoa(DefaultPort), "the server's `URL`")
	pf.StringVar(&tokenFile, "token-file", "", "read the API token from this `file` instead of WEIR_TOKEN")
	pf.BoolVar(&asJSON, "json", false, "print the server's answer as JSON")

	print := func(w io.Writer, v any, text func()) error {
		if asJSON {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		text()
		return nil
	}

	var name, interval, retainJob string
	var parallelism int
	var tmpl string
	var params []string
	submit := &cobra.Command{
		Use:   "submit pipeline.yaml | --template NAME [--param k=v]…",
		Short: "Submit a pipeline file, or a built-in template; the server checks it and runs it",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := platform.SubmitRequest{Name: name, Parallelism: parallelism, CheckpointInterval: interval, Retain: retainJob}
			what, err := submitSource(&req, args, tmpl, params)
			if err != nil {
				return err
			}
			c, err := client()
			if err != nil {
				return err
			}
			j, err := c.Submit(cmd.Context(), req)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return print(cmd.OutOrStdout(), j, func() {
				if len(j.Group) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "%s\n", j.ID)
					return
				}
				// An isolated route: a job per output, one per line.
				for _, id := range j.Group {
					fmt.Fprintf(cmd.OutOrStdout(), "%s\n", id)
				}
			})
		},
	}
	submit.Flags().StringVar(&name, "name", "", "the job's name")
	submit.Flags().IntVar(&parallelism, "parallelism", 1, "parallel subtasks of each operator")
	submit.Flags().StringVar(&interval, "checkpoint-interval", "10s", "time between checkpoints")
	submit.Flags().StringVar(&tmpl, "template", "", "submit this built-in `template` instead of a file ('weir jobs templates' lists them)")
	submit.Flags().StringArrayVar(&params, "param", nil, "a template's parameter, `name=value` (repeatable)")
	submit.Flags().StringVar(&retainJob, "retain", "", "keep the checkpoints completed within this `duration` (such as 7d), so the job can be rewound that far")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			js, err := c.List(cmd.Context())
			if err != nil {
				return err
			}
			return print(cmd.OutOrStdout(), platform.JobList{Jobs: js}, func() {
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSTATE\tRESTARTS\tSUBMITTED")
				for _, j := range js {
					name := j.Name
					if j.Output != "" {
						// One of an isolated route's jobs: the output it runs.
						name += " [" + j.Output + "]"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", j.ID, name, j.State, j.Restarts, j.Submitted.Format(time.RFC3339))
				}
				tw.Flush()
			})
		},
	}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a job: its state, restarts, last error and checkpoints",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			j, err := c.Show(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return print(cmd.OutOrStdout(), j, func() { printJob(cmd.OutOrStdout(), j) })
		},
	}
	act := func(use, short string, f func(ctx context.Context, c *platform.Client, id string) (any, string, error)) *cobra.Command {
		return &cobra.Command{
			Use:   use + " ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := client()
				if err != nil {
					return err
				}
				v, line, err := f(cmd.Context(), c, args[0])
				if err != nil {
					return err
				}
				return print(cmd.OutOrStdout(), v, func() { fmt.Fprintln(cmd.OutOrStdout(), line) })
			},
		}
	}
	cancel := act("cancel", "Cancel a job: its process is killed, no savepoint is taken", func(ctx context.Context, c *platform.Client, id string) (any, string, error) {
		j, err := c.Cancel(ctx, id)
		return j, fmt.Sprintf("%s %s", j.ID, j.State), err
	})
	savepoint := act("savepoint", "Take a savepoint of a running job; it goes on running", func(ctx context.Context, c *platform.Client, id string) (any, string, error) {
		p, err := c.Savepoint(ctx, id)
		return platform.SavepointResponse{Path: p}, p, err
	})
	stopCmd := act("stop", "Stop a job with a savepoint", func(ctx context.Context, c *platform.Client, id string) (any, string, error) {
		j, err := c.Stop(ctx, id)
		return j, fmt.Sprintf("%s %s with savepoint %s", j.ID, j.State, j.Savepoint), err
	})
	var older int
	logCmd := act("log", "Print the tail of a job's log, or an older log file", func(ctx context.Context, c *platform.Client, id string) (any, string, error) {
		if older != 0 {
			s, err := c.OlderLog(ctx, id, older)
			return s, strings.TrimRight(s, "\n"), err
		}
		s, err := c.Log(ctx, id)
		return s, strings.TrimRight(s, "\n"), err
	})
	logCmd.Long = `Print the last 64 KiB of a job's log. The server moves a log grown past its
size (weir serve --job-log-max-bytes) to job.log.1, and job.log.1 to
job.log.2, …, keeping --job-log-files of them; --older K prints job.log.K
whole (1 is the newest of them).`
	logCmd.Flags().IntVar(&older, "older", 0, "print the older log file `K` (job.log.K) instead of the tail")
	cmd.AddCommand(submit, list, show, cancel, savepoint, stopCmd, logCmd)
	cmd.AddCommand(alertsCommand(client, print))
	cmd.AddCommand(opsCommands(client, print)...)
	return cmd
}

func printJob(w io.Writer, j platform.Job) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\n", j.ID)
	if j.Name != "" {
		fmt.Fprintf(tw, "name:\t%s\n", j.Name)
	}
	fmt.Fprintf(tw, "state:\t%s\n", j.State)
	fmt.Fprintf(tw, "submitted:\t%s\n", j.Submitted.Format(time.RFC3339))
	fmt.Fprintf(tw, "parallelism:\t%d\n", j.Parallelism)
	fmt.Fprintf(tw, "checkpoint interval:\t%s\n", j.CheckpointInterval)
	fmt.Fprintf(tw, "restarts:\t%d\n", j.Restarts)
	if j.LastError != "" {
		fmt.Fprintf(tw, "last error:\t%s\n", j.LastError)
	}
	if j.Output != "" {
		fmt.Fprintf(tw, "output:\t%s (isolated; the submission's jobs: %s)\n", j.Output, strings.Join(j.Group, ", "))
	}
	if j.Savepoint != "" {
		fmt.Fprintf(tw, "stopped with:\t%s\n", j.Savepoint)
	}
	if c := j.Checkpoints; c != nil {
		fmt.Fprintf(tw, "checkpoints:\t%d in %s\n", c.Count, c.Dir)
		if c.Latest != nil {
			fmt.Fprintf(tw, "latest:\t%s %d, %s\n", c.Latest.Kind, c.Latest.ID, c.Latest.Completed.Format(time.RFC3339))
		}
		for _, sp := range c.Savepoints {
			fmt.Fprintf(tw, "savepoint:\t%s\n", sp.Path)
		}
	}
	tw.Flush()
}
