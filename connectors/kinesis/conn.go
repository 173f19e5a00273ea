package kinesis

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// Conn says how to reach and authenticate to Kinesis. Sources and sinks
// take one each.
type Conn struct {
	// Region is the AWS region of the stream ("us-east-1"). Required.
	Region string
	// Endpoint, when set, is the URL requests go to instead of the
	// region's (a local emulator, a VPC endpoint): http(s)://host:port.
	Endpoint string
	// AccessKeyID, SecretAccessKey and SessionToken are the credentials.
	// Empty: the environment's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
	// and AWS_SESSION_TOKEN.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Timeout bounds each request; default 30 s.
	Timeout time.Duration
}

const defaultTimeout = 30 * time.Second

// Validate reports the first problem with the connection settings, naming
// the field.
func (c Conn) Validate() error {
	if c.Region == "" {
		return errors.New("kinesis: Conn.Region is required (us-east-1, say)")
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("kinesis: Conn.Endpoint %q: want http(s)://host:port", c.Endpoint)
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("kinesis: Conn.AccessKeyID and Conn.SecretAccessKey go together")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("kinesis: Conn.Timeout %v must not be negative", c.Timeout)
	}
	return nil
}

// Client returns a Kinesis client for the settings, as the source and
// sink make theirs. The SDK's own retries are limited to a few quick ones:
// the source and sink back off from throttling themselves, so that a
// throttled shard waits instead of failing the job.
func (c Conn) Client() (*kinesis.Client, error) {
	cl, _, err := c.client()
	return cl, err
}

// client returns a client and its transport, whose idle connections the
// client's owner closes when done with it.
func (c Conn) client() (*kinesis.Client, *http.Transport, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	id, secret, token := c.AccessKeyID, c.SecretAccessKey, c.SessionToken
	if id == "" {
		id, secret, token = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
	}
	if id == "" || secret == "" {
		return nil, nil, errors.New("kinesis: no credentials: set Conn.AccessKeyID and Conn.SecretAccessKey, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	opts := kinesis.Options{
		Region:      c.Region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, token)),
		// A few quick retries, without the SDK's retry quota: the source
		// and sink back off from throttling themselves.
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts, o.MaxBackoff, o.RateLimiter = 3, time.Second, ratelimit.None
		}),
		HTTPClient: &http.Client{Transport: tr, Timeout: timeout},
	}
	if c.Endpoint != "" {
		opts.BaseEndpoint = aws.String(c.Endpoint)
	}
	return kinesis.New(opts), tr, nil
}
