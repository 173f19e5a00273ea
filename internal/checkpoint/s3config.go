package checkpoint

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Scheme starts the location of a checkpoint storage on S3:
// s3://bucket/prefix.
const S3Scheme = "s3://"

// IsS3URL reports whether location names S3 storage (s3://…) rather than
// a directory.
func IsS3URL(location string) bool { return strings.HasPrefix(location, S3Scheme) }

// ParseS3URL splits s3://bucket/prefix into the bucket and the prefix,
// without leading or trailing slashes (empty for the bucket's root).
func ParseS3URL(location string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(location, S3Scheme)
	if !ok {
		return "", "", fmt.Errorf("checkpoint: %q is not an s3:// URL", location)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	switch {
	case bucket == "":
		return "", "", fmt.Errorf("checkpoint: %q names no bucket; want s3://bucket/prefix", location)
	case strings.ContainsAny(location, "?#"):
		return "", "", fmt.Errorf("checkpoint: %q: an s3:// URL takes no query or fragment; the endpoint and credentials come from the environment (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, …)", location)
	case prefix != "" && slices.ContainsFunc(strings.Split(prefix, "/"), func(e string) bool { return e == "" || e == "." || e == ".." }):
		return "", "", fmt.Errorf("checkpoint: %q: the prefix has an empty, \".\" or \"..\" element", location)
	}
	return bucket, prefix, nil
}

// The environment variables S3ConfigFromEnv reads besides the standard
// AWS ones.
const (
	// EnvS3PathStyle set to true addresses buckets in the URL's path, to
	// false in the host name; unset chooses by endpoint.
	EnvS3PathStyle = "WEIR_S3_PATH_STYLE"
	// EnvS3AllowHTTP set to true allows a plain-http endpoint that is not
	// a loopback address.
	EnvS3AllowHTTP = "WEIR_S3_ALLOW_HTTP"
)

// S3ConfigFromEnv returns the configuration of the S3 storage at
// location (s3://bucket/prefix), read from the environment as AWS tools
// read it:
//
//   - AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN are
//     the credentials; without them the shared credentials file is read
//     (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials; profile
//     AWS_PROFILE);
//   - AWS_REGION (or AWS_DEFAULT_REGION) is the region;
//   - AWS_ENDPOINT_URL_S3, or else AWS_ENDPOINT_URL, is the endpoint of an
//     S3-compatible service, such as http://127.0.0.1:9000 (plain http
//     only for a loopback address unless WEIR_S3_ALLOW_HTTP=true);
//   - WEIR_S3_PATH_STYLE=true addresses the bucket in the path
//     (host/bucket/key), false in the host name (bucket.host/key); unset,
//     virtual-host style is used for AWS and path style elsewhere.
func S3ConfigFromEnv(location string) (S3Config, error) {
	bucket, prefix, err := ParseS3URL(location)
	if err != nil {
		return S3Config{}, err
	}
	cfg := S3Config{
		Bucket:          bucket,
		Prefix:          prefix,
		AccessKeyID:     os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    os.Getenv("AWS_SESSION_TOKEN"),
		Region:          cmp.Or(os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")),
		Endpoint:        cmp.Or(os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL")),
	}
	if cfg.AccessKeyID != "" && cfg.SecretAccessKey == "" {
		return S3Config{}, errors.New("checkpoint: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
	}
	if v := os.Getenv(EnvS3PathStyle); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return S3Config{}, fmt.Errorf("checkpoint: %s=%q: want true or false", EnvS3PathStyle, v)
		}
		cfg.PathStyle = &b
	}
	if v := os.Getenv(EnvS3AllowHTTP); v != "" {
		if cfg.AllowHTTP, err = strconv.ParseBool(v); err != nil {
			return S3Config{}, fmt.Errorf("checkpoint: %s=%q: want true or false", EnvS3AllowHTTP, v)
		}
	}
	return cfg, nil
}

// parseEndpoint turns an endpoint URL into the host[:port] the client
// takes, whether to use TLS, and the URL to show in errors. Empty means
// AWS S3.
func parseEndpoint(endpoint string, allowHTTP bool) (host string, secure bool, shown string, err error) {
	if endpoint == "" {
		return "s3.amazonaws.com", true, "https://s3.amazonaws.com", nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", false, "", fmt.Errorf("checkpoint: s3 endpoint %q: want a URL such as https://s3.example.com or http://127.0.0.1:9000, without path or query", endpoint)
	}
	switch u.Scheme {
	case "https":
		return u.Host, true, "https://" + u.Host, nil
	case "http":
		if !allowHTTP && !isLoopback(u.Hostname()) {
			return "", false, "", fmt.Errorf("checkpoint: s3 endpoint %q: plain http sends the credentials' signatures and the state unencrypted; it is allowed for a loopback address only, unless %s=true", endpoint, EnvS3AllowHTTP)
		}
		return u.Host, false, "http://" + u.Host, nil
	}
	return "", false, "", fmt.Errorf("checkpoint: s3 endpoint %q: the scheme must be https or http", endpoint)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// s3Credentials returns the static credentials of cfg, or, without any,
// those of the shared credentials file; it fails when there are neither,
// saying where credentials come from.
func s3Credentials(cfg S3Config) (*credentials.Credentials, error) {
	if cfg.AccessKeyID != "" {
		return credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken), nil
	}
	creds := credentials.NewFileAWSCredentials("", "")
	if _, err := creds.GetWithContext(nil); err != nil {
		return nil, fmt.Errorf("checkpoint: s3: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or write them to the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials; profile AWS_PROFILE): %w", err)
	}
	return creds, nil
}
