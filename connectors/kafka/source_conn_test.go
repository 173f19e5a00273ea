package kafka_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"github.com/twmb/franz-go/pkg/kmsg"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

// readAll runs a job reading src to its end and returns the values read.
func readAll(t *testing.T, src *kafka.Source[string]) ([]string, error) {
	t.Helper()
	env := weir.New(weir.Parallelism(2))
	got := weir.Collect(weir.From(env, src))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err := env.Run(ctx)
	return values(got.Values()), err
}

// produce writes values to topic's partitions round robin through a client
// with opts.
func produce(t *testing.T, c *kafkatest.Cluster, topic string, opts []kgo.Opt, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers()...), kgo.DefaultProduceTopic(topic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Value: []byte(v)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// testTLS returns a server configuration for 127.0.0.1 with a certificate
// signed by a CA made for the test, and a client configuration trusting
// that CA alone.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, srvKey := key(), key()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "weir test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srv := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	server = &tls.Config{MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}}
	client = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	return server, client
}

// The source reads over TLS, trusting the cluster's CA.
func TestSourceTLS(t *testing.T) {
	server, client := testTLS(t)
	c := kafkatest.NewCluster(t, kfake.TLS(server))
	c.Topic("secure", 2)
	produce(t, c, "secure", []kgo.Opt{kgo.DialTLSConfig(client.Clone())}, "a", "b", "c")
	got, err := readAll(t, newSource(t, kafka.SourceConfig[string]{
		Conn: kafka.Conn{Brokers: c.Brokers(), TLS: client}, Topics: []string{"secure"}, Bounded: true,
	}))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// The source authenticates with each SASL mechanism and reads; a wrong
// password fails the job at its start with the broker's answer, without
// hanging.
func TestSourceSASL(t *testing.T) {
	for _, mech := range []string{kafka.Plain, kafka.ScramSHA256, kafka.ScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			c := kafkatest.NewCluster(t, kfake.EnableSASL(), kfake.Superuser(mech, "admin", "secret"),
				kfake.User(mech, "reader", "s3cret"))
			c.Topic("private", 2)
			var m kgo.Opt
			switch mech {
			case kafka.Plain:
				m = kgo.SASL(plain.Auth{User: "admin", Pass: "secret"}.AsMechanism())
			case kafka.ScramSHA256:
				m = kgo.SASL(scram.Auth{User: "admin", Pass: "secret"}.AsSha256Mechanism())
			default:
				m = kgo.SASL(scram.Auth{User: "admin", Pass: "secret"}.AsSha512Mechanism())
			}
			produce(t, c, "private", []kgo.Opt{m}, "x", "y")
			got, err := readAll(t, newSource(t, kafka.SourceConfig[string]{
				Conn:   kafka.Conn{Brokers: c.Brokers(), SASL: &kafka.SASL{Mechanism: mech, User: "admin", Password: "secret"}},
				Topics: []string{"private"}, Bounded: true,
			}))
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if want := []string{"x", "y"}; !slices.Equal(got, want) {
				t.Fatalf("read %q, want %q", got, want)
			}
			_, err = readAll(t, newSource(t, kafka.SourceConfig[string]{
				Conn:   kafka.Conn{Brokers: c.Brokers(), SASL: &kafka.SASL{Mechanism: mech, User: "reader", Password: "wrong"}},
				Topics: []string{"private"}, Bounded: true,
			}))
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), "sasl") {
				t.Fatalf("Run with a wrong password = %v, want an error about SASL authentication", err)
			}
			t.Logf("wrong password: %v", err)
		})
	}
}

// A topic of the list that does not exist fails the job at its start,
// naming the topic and the field.
func TestSourceUnknownTopic(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("known", 1)
	_, err := readAll(t, newSource(t, kafka.SourceConfig[string]{
		Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"known", "missing"},
	}))
	if err == nil || !strings.Contains(err.Error(), `topic "missing" (SourceConfig.Topics[1])`) {
		t.Fatalf("Run = %v, want an error naming topic \"missing\" and SourceConfig.Topics[1]", err)
	}
}

// A fetch the broker refuses for good (the user may describe the topic but
// not read it) fails the job, naming the split and the offset, instead of
// leaving it waiting.
func TestSourceFetchNotAuthorized(t *testing.T) {
	describe := kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: "t", Pattern: kmsg.ACLResourcePatternTypeLiteral,
		Operation: kmsg.ACLOperationDescribe, Allow: true}
	c := kafkatest.NewCluster(t, kfake.EnableSASL(), kfake.EnableACLs(), kfake.Superuser(kafka.Plain, "admin", "admin"),
		kfake.User(kafka.Plain, "reader", "pw", describe))
	c.Topic("t", 1)
	produce(t, c, "t", []kgo.Opt{kgo.SASL(plain.Auth{User: "admin", Pass: "admin"}.AsMechanism())}, "x")
	_, err := readAll(t, newSource(t, kafka.SourceConfig[string]{
		Conn:   kafka.Conn{Brokers: c.Brokers(), SASL: &kafka.SASL{Mechanism: kafka.Plain, User: "reader", Password: "pw"}},
		Topics: []string{"t"}, Bounded: true,
	}))
	if err == nil || !strings.Contains(err.Error(), "TOPIC_AUTHORIZATION_FAILED") || !strings.Contains(err.Error(), `split "t-0"`) {
		t.Fatalf("Run = %v, want a TOPIC_AUTHORIZATION_FAILED error naming split t-0", err)
	}
	t.Log(err)
}
