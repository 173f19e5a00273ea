// Package kinesistest runs a Kinesis emulator for tests: npm's
// kinesis-local (kinesis-mock), which make deps installs into the
// module's .tools directory, started on a free port with node and stopped
// when the test ends.
package kinesistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	wk "github.com/weirstream/weir/connectors/kinesis"
)

// Region is the region the emulator serves.
const Region = "us-east-1"

// Server is a running emulator.
type Server struct {
	t        testing.TB
	endpoint string
	client   *kinesis.Client
}

// mainJS finds kinesis-local's main.js: WEIR_KINESIS_LOCAL, or
// .tools/node_modules/kinesis-local/main.js in the module's root.
func mainJS() string {
	if p := os.Getenv("WEIR_KINESIS_LOCAL"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".tools", "node_modules", "kinesis-local", "main.js")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			return ""
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start starts the emulator. Without it or without node the test is
// skipped, unless WEIR_REQUIRE_TOOLS is set (make test sets it): then it
// fails.
func Start(t testing.TB) *Server {
	t.Helper()
	js := mainJS()
	node, err := exec.LookPath("node")
	if js == "" || err != nil {
		if os.Getenv("WEIR_REQUIRE_TOOLS") != "" {
			t.Fatal("kinesis-local (npm) or node is missing and WEIR_REQUIRE_TOOLS is set; make deps installs it")
		}
		t.Skip("kinesis-local (npm) or node is missing; make deps installs it")
	}
	port := freePort(t)
	cmd := exec.Command(node, js)
	// kinesis-local reads its TLS certificate from server.json in the
	// working directory.
	cmd.Dir = filepath.Dir(js)
	cmd.Env = append(os.Environ(),
		"KINESIS_MOCK_PLAIN_PORT="+strconv.Itoa(port),
		"KINESIS_MOCK_TLS_PORT="+strconv.Itoa(freePort(t)),
		"CREATE_STREAM_DURATION=0ms", "DELETE_STREAM_DURATION=0ms",
		"UPDATE_SHARD_COUNT_DURATION=0ms", "SPLIT_SHARD_DURATION=0ms", "MERGE_SHARDS_DURATION=0ms",
		"SHOULD_PERSIST_DATA=false", "LOG_LEVEL=WARN")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("kinesis-local: %v", err)
	}
	exited := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var lines []string
		for sc.Scan() {
			if len(lines) < 50 {
				lines = append(lines, sc.Text())
			}
		}
		exited <- lines
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		cmd.Wait()
	})
	s := &Server{t: t, endpoint: fmt.Sprintf("http://127.0.0.1:%d", port)}
	// Without keep-alives the test's client leaves no connection open
	// between requests, which the suites' goroutine leak checks would see.
	s.client = kinesis.New(kinesis.Options{Region: Region, BaseEndpoint: aws.String(s.endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("weir", "weir", ""),
		HTTPClient:  &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}})
	c := s.client
	// Ready once it answers a request; node takes a second or two.
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{})
		cancel()
		if err == nil {
			return s
		}
		select {
		case lines := <-exited:
			t.Fatalf("kinesis-local exited before it was ready:\n%s", strings.Join(lines, "\n"))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("kinesis-local was not ready after a minute: %v", err)
		}
	}
}

// Endpoint returns the emulator's URL, http://127.0.0.1:port.
func (s *Server) Endpoint() string { return s.endpoint }

// Conn returns a connection to the emulator (any credentials do).
func (s *Server) Conn() wk.Conn {
	return wk.Conn{Region: Region, Endpoint: s.endpoint, AccessKeyID: "weir", SecretAccessKey: "weir"}
}

// Client returns the test's client of the emulator.
func (s *Server) Client() *kinesis.Client { return s.client }

// CreateStream creates a provisioned stream of shards shards and waits
// until it is active.
func (s *Server) CreateStream(name string, shards int) {
	s.t.Helper()
	ctx := context.Background()
	_, err := s.client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))})
	if err != nil {
		s.t.Fatalf("create stream %s: %v", name, err)
	}
	s.waitActive(name)
}

func (s *Server) waitActive(name string) {
	s.t.Helper()
	w := kinesis.NewStreamExistsWaiter(s.client, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 10 * time.Millisecond
		o.MaxDelay = 100 * time.Millisecond
	})
	if err := w.Wait(context.Background(), &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, time.Minute); err != nil {
		s.t.Fatalf("stream %s: %v", name, err)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		d, err := s.client.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			s.t.Fatalf("stream %s: %v", name, err)
		}
		if d.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("stream %s did not become active", name)
}

// Put writes each data with partition key key, one PutRecord each.
func (s *Server) Put(stream, key string, data ...[]byte) {
	s.t.Helper()
	for _, d := range data {
		_, err := s.client.PutRecord(context.Background(), &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(key), Data: d})
		if err != nil {
			s.t.Fatalf("put to %s: %v", stream, err)
		}
	}
}

// Reshard changes the stream's shard count (UpdateShardCount, uniform
// scaling) and waits until the stream is active again.
func (s *Server) Reshard(stream string, shards int) {
	s.t.Helper()
	_, err := s.client.UpdateShardCount(context.Background(), &kinesis.UpdateShardCountInput{
		StreamName: aws.String(stream), TargetShardCount: aws.Int32(int32(shards)), ScalingType: types.ScalingTypeUniformScaling})
	if err != nil {
		s.t.Fatalf("reshard %s to %d: %v", stream, shards, err)
	}
	s.waitActive(stream)
}

// Shards lists the stream's shards, closed ones included.
func (s *Server) Shards(stream string) []types.Shard {
	s.t.Helper()
	var out []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		o, err := s.client.ListShards(context.Background(), in)
		if err != nil {
			s.t.Fatalf("list shards of %s: %v", stream, err)
		}
		out = append(out, o.Shards...)
		if o.NextToken == nil {
			return out
		}
		in = &kinesis.ListShardsInput{NextToken: o.NextToken}
	}
}

// Record is a record the stream holds.
type Record struct {
	Shard, Sequence, Key string
	Data                 []byte
}

// Records reads every record the stream holds, shard by shard from the
// trim horizon, sorted by shard and sequence number.
func (s *Server) Records(stream string) []Record {
	s.t.Helper()
	ctx := context.Background()
	var out []Record
	for _, sh := range s.Shards(stream) {
		it, err := s.client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
			ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			s.t.Fatalf("%s/%s: %v", stream, *sh.ShardId, err)
		}
		iter := it.ShardIterator
		for iter != nil {
			r, err := s.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				var pe *types.ProvisionedThroughputExceededException
				if errors.As(err, &pe) {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				s.t.Fatalf("%s/%s: %v", stream, *sh.ShardId, err)
			}
			for _, rec := range r.Records {
				out = append(out, Record{Shard: *sh.ShardId, Sequence: *rec.SequenceNumber, Key: *rec.PartitionKey, Data: rec.Data})
			}
			if len(r.Records) == 0 && (r.MillisBehindLatest == nil || *r.MillisBehindLatest == 0) && sh.SequenceNumberRange.EndingSequenceNumber == nil {
				break // an open shard, read to its end
			}
			iter = r.NextShardIterator
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Shard < out[j].Shard })
	return out
}

// SplitOpenShard splits the open shard with the widest hash key range at
// its middle (SplitShard), waits until the stream is active again and
// returns the parent's ID.
func (s *Server) SplitOpenShard(stream string) string {
	s.t.Helper()
	var widest *types.Shard
	var width *big.Int
	for _, sh := range s.Shards(stream) {
		if sh.SequenceNumberRange.EndingSequenceNumber != nil {
			continue
		}
		lo, _ := new(big.Int).SetString(*sh.HashKeyRange.StartingHashKey, 10)
		hi, _ := new(big.Int).SetString(*sh.HashKeyRange.EndingHashKey, 10)
		w := new(big.Int).Sub(hi, lo)
		if widest == nil || w.Cmp(width) > 0 {
			sh := sh
			widest, width = &sh, w
		}
	}
	if widest == nil {
		s.t.Fatalf("stream %s has no open shard", stream)
	}
	lo, _ := new(big.Int).SetString(*widest.HashKeyRange.StartingHashKey, 10)
	mid := new(big.Int).Add(lo, new(big.Int).Rsh(width, 1))
	mid.Add(mid, big.NewInt(1))
	_, err := s.client.SplitShard(context.Background(), &kinesis.SplitShardInput{StreamName: aws.String(stream),
		ShardToSplit: widest.ShardId, NewStartingHashKey: aws.String(mid.String())})
	if err != nil {
		s.t.Fatalf("split shard %s of %s: %v", *widest.ShardId, stream, err)
	}
	s.waitActive(stream)
	return *widest.ShardId
}
