package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
)

func newDevCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start local stand-ins of the services a job talks to, for development",
		Long: `Start local stand-ins of the services Weir jobs read from and write to, so
that a job can be tried on one machine. They are for development only.`,
		Example: `  # A Kafka-protocol broker on 127.0.0.1:9092.
  weir dev kafka`,
	}
	cmd.AddCommand(newDevKafkaCommand())
	return cmd
}

// devKafkaFlags are the flags of weir dev kafka.
type devKafkaFlags struct {
	port       int
	partitions int
	data       string
	topics     []string
	addrFile   string
}

func newDevKafkaCommand() *cobra.Command {
	var f devKafkaFlags
	cmd := &cobra.Command{
		Use:   "kafka",
		Short: "Run an in-process Kafka-protocol broker for development (not a production broker)",
		Long: `Run a development stand-in for a Kafka cluster: one in-process broker that
speaks the Kafka protocol (franz-go's kfake), with transactions, consumer
groups and read_committed, listening on 127.0.0.1. Topics are created on
first use with --partitions partitions.

It is NOT a production broker: it keeps everything in memory unless --data
names a directory, has no replication, and is tested only as far as Weir's
own tests use it. Use it to try Weir jobs and kcat commands locally; run
real Kafka for anything else.

It runs until interrupted (Ctrl-C or SIGTERM).`,
		Example: `  # A broker on 127.0.0.1:9092 with topics of 3 partitions.
  weir dev kafka

  # Keep the topics across restarts, on another port.
  weir dev kafka --port 19092 --data /tmp/weir-kafka

  # Then, in another terminal:
  echo '{"id":1}' | kcat -b 127.0.0.1:9092 -P -t orders
  kcat -b 127.0.0.1:9092 -C -t orders -e -X isolation.level=read_committed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDevKafka(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.port, "port", 9092, "port to listen on, on 127.0.0.1 (0 picks a free one)")
	fl.IntVar(&f.partitions, "partitions", 3, "partitions of each topic created on first use or by --topic")
	fl.StringVar(&f.data, "data", "", "directory keeping the topics across restarts (default: memory only)")
	fl.StringSliceVar(&f.topics, "topic", nil, "topic to create at start (repeat or separate by commas)")
	fl.StringVar(&f.addrFile, "addr-file", "", "write the broker's address to this file once it listens (for scripts)")
	return cmd
}

func (f devKafkaFlags) validate() error {
	switch {
	case f.port < 0 || f.port > 65535:
		return fmt.Errorf("--port %d: want 0–65535 (0 picks a free port)", f.port)
	case f.partitions < 1 || f.partitions > 10000:
		return fmt.Errorf("--partitions %d: want 1–10000", f.partitions)
	}
	for _, t := range f.topics {
		if err := validTopic(t); err != nil {
			return fmt.Errorf("--topic %q: %w", t, err)
		}
	}
	return nil
}

// validTopic applies Kafka's rules for topic names.
func validTopic(t string) error {
	switch {
	case t == "":
		return errors.New("a topic name cannot be empty")
	case t == "." || t == "..":
		return errors.New(`a topic name cannot be "." or ".."`)
	case len(t) > 249:
		return fmt.Errorf("a topic name is at most 249 characters, not %d", len(t))
	}
	for i, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("character %q at %d: a topic name holds only ASCII letters, digits, '.', '_' and '-'", r, i+1)
		}
	}
	return nil
}

func runDevKafka(cmd *cobra.Command, f devKafkaFlags) error {
	if err := f.validate(); err != nil {
		return err
	}
	opts := []kfake.Opt{
		kfake.Ports(f.port),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(f.partitions),
		kfake.ClusterID("weir-dev"),
	}
	if f.data != "" {
		if err := os.MkdirAll(f.data, 0o755); err != nil {
			return fmt.Errorf("--data: %w", err)
		}
		opts = append(opts, kfake.DataDir(f.data), kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		if f.port != 0 && strings.Contains(err.Error(), "address already in use") {
			return fmt.Errorf("port %d is taken (another broker running?); pick another with --port, or --port 0: %w", f.port, err)
		}
		return fmt.Errorf("start the development broker: %w", err)
	}
	defer c.Close()
	for _, t := range f.topics {
		if c.TopicInfo(t) != nil {
			continue // kept in --data from an earlier run
		}
		if err := c.CreateTopic(t, int32(f.partitions), nil); err != nil {
			return fmt.Errorf("--topic %s: %w", t, err)
		}
	}
	addr := c.ListenAddrs()[0]
	if f.addrFile != "" {
		if err := writeFileAtomic(f.addrFile, []byte(addr+"\n")); err != nil {
			return fmt.Errorf("--addr-file: %w", err)
		}
	}
	printDevKafkaBanner(cmd.OutOrStdout(), addr, f)

	ctx := cmd.Context()
	select {
	case <-ctx.Done():
	case <-stopOf(ctx):
	}
	fmt.Fprintln(cmd.OutOrStdout(), "development Kafka broker stopped")
	return nil
}

func printDevKafkaBanner(w io.Writer, addr string, f devKafkaFlags) {
	keep := "in memory only: everything is lost when it stops"
	if f.data != "" {
		keep = "in " + f.data + " (kept across restarts)"
	}
	fmt.Fprintf(w, `DEVELOPMENT Kafka-protocol broker (kfake) — a stand-in for trying Weir locally, not a production broker
  listening on  %s
  topics        created on first use with %d partitions; kept %s
  try           echo '{"id":1}' | kcat -b %s -P -t orders
                kcat -b %s -C -t orders -e -X isolation.level=read_committed
Ctrl-C stops it.
`, addr, f.partitions, keep, addr, addr)
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, so a script polling for path never reads it half written.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
