package checkpoint

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// DefaultPartSize is the size of the parts a state file is uploaded in
// when S3Config.PartSize is 0: a state file smaller than a part is
// uploaded with one request when it is closed, a larger one as a multipart
// upload, a part at a time, so a writer holds one part in memory.
const DefaultPartSize = 8 << 20

// minPartSize is the smallest part S3 accepts, except for the last.
const minPartSize = 5 << 20

// S3 is the Storage on an S3-compatible object store. Its layout is
// Dir's, as object keys under a prefix in a bucket:
//
//	<prefix>/chk-<id>/<state files> and _metadata
//	<prefix>/sp-<id>/<state files> and _metadata
//	<prefix>/shared/<shared files> (see SharedStorage)
//
// An object store has no rename, but it needs none: a PUT makes an object
// appear whole or not at all, so Complete writes _metadata with one PUT,
// after checking that every state file it lists is there with its size,
// and the checkpoint exists from the moment that PUT succeeds. Delete
// removes _metadata before anything else. A state file is uploaded while
// it is written, in parts (see S3Config.PartSize); a writer's Abort
// abandons the upload, so nothing of the file stays.
//
// Locations are URLs: s3://bucket/prefix for the storage, and
// s3://bucket/prefix/chk-<id> for one checkpoint.
//
// An S3 is safe for concurrent use and, like Dir, keeps nothing of its own
// besides the client: everything it knows it reads from the bucket.
type S3 struct {
	// Failpoints is Dir.Failpoints for S3: it is called at
	// FailpointStateFileSynced (a state file's upload completed),
	// FailpointMetadataRenamed (the metadata object written, so the
	// checkpoint is complete) and FailpointDeleteMetadataRemoved. Set it
	// before the S3 is used.
	Failpoints func(name string) error

	client   *minio.Client
	core     minio.Core
	bucket   string
	prefix   string // no leading or trailing slash; "" for the bucket's root
	endpoint string // for error messages
	partSize int
}

// S3Config says where an S3 storage is and how to reach it.
// S3ConfigFromEnv fills it the way S3 tools do, from the environment.
type S3Config struct {
	// Bucket is the bucket's name; it must exist.
	Bucket string
	// Prefix is the key prefix the checkpoints go under, without leading
	// or trailing slash; empty for the bucket's root.
	Prefix string
	// Endpoint is the URL of the S3 service, such as
	// "https://s3.eu-west-1.amazonaws.com" or "http://127.0.0.1:9000";
	// empty for AWS S3 in Region. Plain http is accepted only for a
	// loopback address, unless AllowHTTP is set, since requests carry
	// credentials.
	Endpoint string
	// AllowHTTP allows a plain-http Endpoint that is not a loopback
	// address.
	AllowHTTP bool
	// Region is the bucket's region; empty lets the client find it
	// (us-east-1 for an Endpoint other than AWS).
	Region string
	// AccessKeyID, SecretAccessKey and SessionToken are the credentials.
	// When AccessKeyID is empty, they are read from the shared credentials
	// file (~/.aws/credentials, or AWS_SHARED_CREDENTIALS_FILE; profile
	// AWS_PROFILE).
	AccessKeyID, SecretAccessKey, SessionToken string
	// PathStyle addresses the bucket in the URL's path
	// (http://host/bucket/key) rather than in its host name
	// (http://bucket.host/key). Nil chooses: virtual-host style for AWS,
	// path style for any other endpoint.
	PathStyle *bool
	// PartSize is the size of the parts state files are uploaded in; 0
	// means DefaultPartSize. It must be at least 5 MiB, S3's least part.
	PartSize int
	// Transport, when not nil, carries the requests (tests).
	Transport http.RoundTripper
	// MaxRetries is how many times a request is tried; 0 means the
	// client's default (10, with backoff).
	MaxRetries int
}

var _ Storage = (*S3)(nil)

// OpenS3 opens the storage cfg describes. It sends no request: see
// CheckWritable for a check that the bucket is there and writable.
func OpenS3(cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("checkpoint: s3: no bucket")
	}
	cfg.Prefix = strings.Trim(cfg.Prefix, "/")
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < minPartSize {
		return nil, fmt.Errorf("checkpoint: s3: part size %d is below S3's least, %d", cfg.PartSize, minPartSize)
	}
	host, secure, shown, err := parseEndpoint(cfg.Endpoint, cfg.AllowHTTP)
	if err != nil {
		return nil, err
	}
	creds, err := s3Credentials(cfg)
	if err != nil {
		return nil, err
	}
	opts := &minio.Options{
		Creds:      creds,
		Secure:     secure,
		Region:     cfg.Region,
		Transport:  cfg.Transport,
		MaxRetries: cfg.MaxRetries,
	}
	if cfg.Region == "" && cfg.Endpoint != "" {
		opts.Region = "us-east-1"
	}
	if cfg.PathStyle != nil {
		opts.BucketLookup = minio.BucketLookupDNS
		if *cfg.PathStyle {
			opts.BucketLookup = minio.BucketLookupPath
		}
	}
	client, err := minio.New(host, opts)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: s3 endpoint %s: %w", shown, err)
	}
	return &S3{client: client, core: minio.Core{Client: client}, bucket: cfg.Bucket, prefix: cfg.Prefix,
		endpoint: shown, partSize: cfg.PartSize}, nil
}

// Location returns the storage's URL, s3://bucket/prefix.
func (s *S3) Location() string { return s.url(s.prefix) }

// Close releases nothing; it is there so S3 and Dir are used alike.
func (s *S3) Close() error { return nil }

// url returns the URL of a key in the bucket.
func (s *S3) url(key string) string {
	if key == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + key
}

// key returns the object key of a path under the prefix; elements are
// joined with slashes.
func (s *S3) key(elems ...string) string {
	k := strings.Join(elems, "/")
	if s.prefix == "" {
		return k
	}
	return s.prefix + "/" + k
}

// location returns the URL of a checkpoint, or of a file in it.
func (s *S3) location(ref Ref, name ...string) string {
	return s.url(s.key(append([]string{ref.String()}, name...)...))
}

func (s *S3) failpoint(name string) error {
	if s.Failpoints == nil {
		return nil
	}
	if err := s.Failpoints(name); err != nil {
		return fmt.Errorf("failpoint %s: %w", name, err)
	}
	return nil
}

// The object helpers below work on keys under the storage's prefix, with
// errors that name the object's URL and, for what users get wrong
// (credentials, the bucket), the endpoint.

// errObjectNotFound is what the helpers return, wrapped, for a missing
// object.
var errObjectNotFound = errors.New("no such object")

// explain turns a client error into one that names the object's URL and
// says what an S3 error code means where users can act on it.
func (s *S3) explain(key string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", s.url(key), err)
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%s: %w", s.url(key), errObjectNotFound)
	case "NoSuchBucket":
		return fmt.Errorf("%s: bucket %q does not exist at %s: %w", s.url(key), s.bucket, s.endpoint, err)
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken", "AuthorizationHeaderMalformed":
		return fmt.Errorf("%s: %s refused the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) for bucket %q: %w",
			s.url(key), s.endpoint, s.bucket, err)
	}
	if resp.StatusCode == http.StatusNotFound && resp.Code == "" {
		return fmt.Errorf("%s: %w", s.url(key), errObjectNotFound)
	}
	return fmt.Errorf("%s (endpoint %s): %w", s.url(key), s.endpoint, err)
}

// putObject writes a whole object with one request.
func (s *S3) putObject(ctx context.Context, key string, data []byte) error {
	sum := md5.Sum(data)
	_, err := s.core.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)),
		base64.StdEncoding.EncodeToString(sum[:]), "", putOptions())
	return s.explain(key, err)
}

// putOptions are the options of every upload. The payload is not signed
// (DisableContentSha256): a signed stream is sent as aws-chunked, which
// some S3-compatible servers store with its framing; Content-MD5 protects
// the bytes instead.
func putOptions() minio.PutObjectOptions {
	return minio.PutObjectOptions{DisableContentSha256: true, ContentType: "application/octet-stream"}
}

// getObject reads a whole object of at most limit bytes.
func (s *S3) getObject(ctx context.Context, key string, limit int64) ([]byte, error) {
	r, _, _, err := s.core.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.explain(key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, s.explain(key, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", s.url(key), limit)
	}
	return data, nil
}

// statObject returns an object's size, or an error wrapping
// errObjectNotFound.
func (s *S3) statObject(ctx context.Context, key string) (int64, error) {
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return 0, s.explain(key, err)
	}
	return info.Size, nil
}

// object is one listed object: its key relative to the listed prefix, and
// its size. A listing without recursion gives the "directories" too, with
// a trailing slash.
type object struct {
	name    string
	size    int64
	modTime time.Time
}

// listObjects lists the objects whose keys start with dir + "/", by name
// relative to it; recursive lists every level, otherwise the common
// prefixes of deeper keys stand for them (ending in "/").
func (s *S3) listObjects(ctx context.Context, dir string, recursive bool) ([]object, error) {
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	// Canceled on return, so the client's lister goroutine ends however
	// the loop does.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []object
	for info := range s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: recursive}) {
		if info.Err != nil {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("list %s: %w", s.url(prefix), err)
			}
			return nil, fmt.Errorf("list: %w", s.explain(prefix, info.Err))
		}
		out = append(out, object{name: strings.TrimPrefix(info.Key, prefix), size: info.Size, modTime: info.LastModified})
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", s.url(prefix), err)
	}
	return out, nil
}

// removeObjects removes objects by key; a missing one is not an error.
func (s *S3) removeObjects(ctx context.Context, keys []string) error {
	var errs []error
	for _, k := range keys {
		err := s.client.RemoveObject(ctx, s.bucket, k, minio.RemoveObjectOptions{})
		if err = s.explain(k, err); err != nil && !errors.Is(err, errObjectNotFound) {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Create implements Storage. It checks that the checkpoint is not complete
// and that the file does not exist yet; two writers racing to create the
// same name are not detected (the last to close wins), which a coordinator,
// giving each subtask its own name, never does.
func (s *S3) Create(ctx context.Context, ref Ref, name string) (io.WriteCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ref.validate(); err != nil {
		return nil, err
	}
	if err := validateName(name); err != nil {
		return nil, fmt.Errorf("checkpoint: create in %s: %w", s.location(ref), err)
	}
	loc := s.location(ref, name)
	switch _, err := s.statObject(ctx, s.key(ref.String(), metadataName)); {
	case err == nil:
		return nil, fmt.Errorf("checkpoint: create %s: %v is complete: %w", loc, ref, ErrExists)
	case !errors.Is(err, errObjectNotFound):
		return nil, fmt.Errorf("checkpoint: create %s: %w", loc, err)
	}
	switch _, err := s.statObject(ctx, s.key(ref.String(), name)); {
	case err == nil:
		return nil, fmt.Errorf("checkpoint: create %s: %w", loc, ErrExists)
	case !errors.Is(err, errObjectNotFound):
		return nil, fmt.Errorf("checkpoint: create %s: %w", loc, err)
	}
	return s.newUpload(ctx, s.key(ref.String(), name)), nil
}

// newUpload returns a writer of the object key, for Create and for any
// other object written as a stream.
func (s *S3) newUpload(ctx context.Context, key string) *upload {
	return &upload{s: s, ctx: ctx, key: key}
}

// upload writes one object as it is written: a part is sent each time the
// buffer fills, and Close sends the rest and completes the upload — or,
// for an object smaller than a part, sends it whole with one PUT. It is
// used by one goroutine.
type upload struct {
	s *S3
	// ctx is the context of the Create that started the upload: the
	// upload is one operation, carried out over several calls.
	ctx      context.Context
	key      string
	buf      []byte
	uploadID string // set once the first part is sent
	parts    []minio.CompletePart
	closed   bool
	err      error // the first failure; every later call returns it
}

var _ Aborter = (*upload)(nil)

// Write buffers p, sending a part each time the buffer is full.
func (u *upload) Write(p []byte) (int, error) {
	if u.closed {
		return 0, fmt.Errorf("checkpoint: write %s: %w", u.s.url(u.key), errClosed)
	}
	if u.err != nil {
		return 0, u.err
	}
	n := 0
	for len(p) > 0 {
		if u.buf == nil {
			u.buf = make([]byte, 0, u.s.partSize)
		}
		c := copy(u.buf[len(u.buf):cap(u.buf)], p)
		u.buf = u.buf[:len(u.buf)+c]
		p, n = p[c:], n+c
		if len(u.buf) == cap(u.buf) {
			if err := u.sendPart(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

var errClosed = errors.New("writer already closed or aborted")

// sendPart sends the buffer as the next part, starting the multipart
// upload with the first.
func (u *upload) sendPart() error {
	s := u.s
	fail := func(err error) error {
		u.err = fmt.Errorf("checkpoint: write %s: %w", s.url(u.key), err)
		return u.err
	}
	if err := u.ctx.Err(); err != nil {
		return fail(err)
	}
	if u.uploadID == "" {
		id, err := s.core.NewMultipartUpload(u.ctx, s.bucket, u.key, putOptions())
		if err != nil {
			return fail(s.explain(u.key, err))
		}
		u.uploadID = id
	}
	sum := md5.Sum(u.buf)
	n := len(u.parts) + 1
	part, err := s.core.PutObjectPart(u.ctx, s.bucket, u.key, u.uploadID, n, bytes.NewReader(u.buf), int64(len(u.buf)),
		minio.PutObjectPartOptions{Md5Base64: base64.StdEncoding.EncodeToString(sum[:]), DisableContentSha256: true})
	if err != nil {
		return fail(s.explain(u.key, err))
	}
	u.parts = append(u.parts, minio.CompletePart{PartNumber: n, ETag: part.ETag})
	u.buf = u.buf[:0]
	return nil
}

// Close sends what is buffered and completes the upload: once it returns
// nil the object is there, whole. On failure the multipart upload is
// aborted.
func (u *upload) Close() error {
	if u.closed {
		return fmt.Errorf("checkpoint: close %s: %w", u.s.url(u.key), errClosed)
	}
	u.closed = true
	err := u.finish()
	if err != nil {
		u.abortParts()
		return err
	}
	u.buf = nil
	return u.s.failpoint(FailpointStateFileSynced)
}

func (u *upload) finish() error {
	s := u.s
	if u.err != nil {
		return u.err
	}
	if err := u.ctx.Err(); err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", s.url(u.key), err)
	}
	if u.uploadID == "" {
		if err := s.putObject(u.ctx, u.key, u.buf); err != nil {
			return fmt.Errorf("checkpoint: write %w", err)
		}
		return nil
	}
	if len(u.buf) > 0 {
		if err := u.sendPart(); err != nil {
			return err
		}
	}
	if _, err := s.core.CompleteMultipartUpload(u.ctx, s.bucket, u.key, u.uploadID, u.parts, putOptions()); err != nil {
		return fmt.Errorf("checkpoint: write %w", s.explain(u.key, err))
	}
	return nil
}

// Abort implements Aborter: the buffer is dropped and a multipart upload
// in progress is aborted, so nothing of the object stays (unless the abort
// request fails; Delete of the checkpoint then finds the parts).
func (u *upload) Abort() error {
	if u.closed {
		return nil
	}
	u.closed = true
	u.buf = nil
	return u.abortParts()
}

// abortParts aborts the multipart upload, if one was started. It does not
// use the upload's context, which may be what was canceled; it gives the
// abort a minute.
func (u *upload) abortParts() error {
	if u.uploadID == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), time.Minute)
	defer cancel()
	err := u.s.core.AbortMultipartUpload(ctx, u.s.bucket, u.key, u.uploadID)
	u.uploadID = ""
	if err = u.s.explain(u.key, err); err != nil && !errors.Is(err, errObjectNotFound) {
		return fmt.Errorf("checkpoint: abort %w", err)
	}
	return nil
}

// Open implements Storage.
func (s *S3) Open(ctx context.Context, ref Ref, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ref.validate(); err != nil {
		return nil, err
	}
	if err := validateName(name); err != nil {
		return nil, fmt.Errorf("checkpoint: open in %s: %w", s.location(ref), err)
	}
	key := s.key(ref.String(), name)
	r, _, _, err := s.core.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open %w", s.explain(key, err))
	}
	return r, nil
}

// Complete implements Storage:
//
//  1. check that there is no _metadata yet, and that every listed state
//     file is there with its size (one listing of the checkpoint);
//  2. PUT _metadata — the moment of completion.
func (s *S3) Complete(ctx context.Context, m *Metadata) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := m.Encode()
	if err != nil {
		return err
	}
	ref := m.Ref()
	fail := func(err error) error { return fmt.Errorf("checkpoint: complete %s: %w", s.location(ref), err) }
	objects, err := s.listObjects(ctx, s.key(ref.String()), false)
	if err != nil {
		return fail(err)
	}
	sizes := make(map[string]int64, len(objects))
	for _, o := range objects {
		sizes[o.name] = o.size
	}
	if _, ok := sizes[metadataName]; ok {
		return fail(ErrExists)
	}
	for _, op := range m.Operators {
		for i, sf := range op.Subtasks {
			size, ok := sizes[sf.Name]
			switch {
			case !ok:
				return fail(fmt.Errorf("operator %q subtask %d: %s: %w", op.ID, i, s.location(ref, sf.Name), errObjectNotFound))
			case size != sf.Size:
				return fail(fmt.Errorf("operator %q subtask %d: %s has %d bytes, the metadata says %d", op.ID, i, sf.Name, size, sf.Size))
			}
		}
	}
	if err := s.verifyNative(ctx, m, sizes); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		// The last moment at which giving up leaves nothing behind.
		return fail(err)
	}
	key := s.key(ref.String(), metadataName)
	if err := s.putObject(ctx, key, data); err != nil {
		// A PUT that fails may still have stored the object (the answer
		// was lost): take it away, so that no one restores from a
		// checkpoint the coordinator gave up on.
		return fail(s.undoMetadata(ctx, key, err))
	}
	if err := s.failpoint(FailpointMetadataRenamed); err != nil {
		return fail(s.undoMetadata(ctx, key, err))
	}
	return nil
}

// undoMetadata removes a metadata object whose checkpoint failed, after
// err.
func (s *S3) undoMetadata(ctx context.Context, key string, err error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if uerr := s.removeObjects(ctx, []string{key}); uerr != nil {
		return fmt.Errorf("%w; removing the metadata again also failed, so the checkpoint may still be listed — Delete it: %w", err, uerr)
	}
	return err
}

// ReadMetadata implements Storage.
func (s *S3) ReadMetadata(ctx context.Context, ref Ref) (*Metadata, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ref.validate(); err != nil {
		return nil, err
	}
	m, _, err := s.readMetadata(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return m, nil
}

// readMetadata is Dir.readMetadata for S3.
func (s *S3) readMetadata(ctx context.Context, ref Ref) (*Metadata, int64, error) {
	key := s.key(ref.String(), metadataName)
	data, err := s.getObject(ctx, key, maxMetadataSize)
	if errors.Is(err, errObjectNotFound) {
		// Incomplete, or not there at all?
		objects, lerr := s.listObjects(ctx, s.key(ref.String()), false)
		switch {
		case lerr != nil:
			return nil, 0, lerr
		case len(objects) == 0:
			return nil, 0, fmt.Errorf("%s: %w", s.location(ref), ErrNotFound)
		}
		return nil, 0, fmt.Errorf("%s: %w", s.location(ref), ErrIncomplete)
	}
	if err != nil {
		return nil, 0, err
	}
	m, err := DecodeMetadata(data)
	if errors.Is(err, ErrChecksum) {
		return nil, 0, fmt.Errorf("%s: %w: %w", s.url(key), ErrCorrupt, err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", s.url(key), err)
	}
	if m.Ref() != ref {
		return nil, 0, fmt.Errorf("%s describes %v, not %v; were the objects moved?", s.url(key), m.Ref(), ref)
	}
	return m, int64(len(data)), nil
}

// refs lists the checkpoints and savepoints under the prefix: the
// "directories" whose names parse as refs.
func (s *S3) refs(ctx context.Context) ([]Ref, error) {
	objects, err := s.listObjects(ctx, s.prefix, false)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var refs []Ref
	for _, o := range objects {
		name, ok := strings.CutSuffix(o.name, "/")
		if !ok {
			continue
		}
		if ref, err := ParseRef(name); err == nil {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// scan is Dir.scan for S3.
func (s *S3) scan(ctx context.Context) (complete []Info, incomplete []Ref, err error) {
	refs, err := s.refs(ctx)
	if err != nil {
		return nil, nil, err
	}
	return classify(ctx, refs, s.readMetadata, s.location)
}

// List implements Storage.
func (s *S3) List(ctx context.Context) ([]Info, error) {
	complete, _, err := s.scan(ctx)
	return complete, err
}

// Incomplete implements Storage. A checkpoint whose only objects are
// parts of an unfinished multipart upload is not listed.
func (s *S3) Incomplete(ctx context.Context) ([]Ref, error) {
	_, incomplete, err := s.scan(ctx)
	return incomplete, err
}

// Resolve implements Storage. The location is a URL: this storage's,
// s3://bucket/prefix, meaning its newest checkpoint or savepoint, or that
// of a complete checkpoint or savepoint in it, s3://bucket/prefix/chk-<id>
// or …/sp-<id>. The ID may be written without its leading zeros.
func (s *S3) Resolve(ctx context.Context, location string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	fail := func(format string, args ...any) (Info, error) {
		return Info{}, fmt.Errorf("checkpoint: resolve %q: %w", location, fmt.Errorf(format, args...))
	}
	bucket, key, err := ParseS3URL(location)
	if err != nil {
		return fail("%w", err)
	}
	if bucket == s.bucket && key == s.prefix {
		infos, err := s.List(ctx)
		if err != nil {
			return fail("%w", err)
		}
		if len(infos) == 0 {
			return fail("no completed checkpoint or savepoint in it: %w", ErrNotFound)
		}
		return infos[0], nil
	}
	parent, base := path.Split(key)
	ref, perr := parseRef(base, false) // a person may type chk-7
	if bucket != s.bucket || strings.TrimSuffix(parent, "/") != s.prefix || perr != nil {
		return fail("neither the checkpoint storage %s nor a chk-<id> or sp-<id> in it", s.Location())
	}
	m, size, err := s.readMetadata(ctx, ref)
	if err != nil {
		return fail("%w", err)
	}
	return Info{Ref: ref, CompletedAt: m.CompletedAt, Size: m.StateSize() + size, Location: s.location(ref)}, nil
}

// Delete implements Storage: _metadata first, then the state files, then
// the multipart uploads a writer killed mid-file left (see abortUploads).
func (s *S3) Delete(ctx context.Context, ref Ref) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ref.validate(); err != nil {
		return err
	}
	loc := s.location(ref)
	dir := s.key(ref.String())
	objects, err := s.listObjects(ctx, dir, true)
	if err != nil {
		return fmt.Errorf("checkpoint: delete %s: %w", loc, err)
	}
	if len(objects) == 0 {
		return fmt.Errorf("checkpoint: delete %s: %w", loc, ErrNotFound)
	}
	if err := s.removeObjects(ctx, []string{s.key(ref.String(), metadataName)}); err != nil {
		return fmt.Errorf("checkpoint: delete %s: %w", loc, err)
	}
	if err := s.failpoint(FailpointDeleteMetadataRemoved); err != nil {
		return fmt.Errorf("checkpoint: delete %s: %w", loc, err)
	}
	var keys []string
	for _, o := range objects {
		if o.name != metadataName {
			keys = append(keys, dir+"/"+o.name)
		}
	}
	if err := s.removeObjects(ctx, keys); err != nil {
		return fmt.Errorf("checkpoint: delete %s: %w", loc, err)
	}
	s.abortUploads(ctx, dir)
	return nil
}

// abortUploads aborts the multipart uploads under dir that a writer killed
// mid-file left, whose parts S3 keeps (and bills) but does not list as
// objects. It is best effort: not every S3-compatible server lists
// uploads, and a bucket lifecycle rule removes them anyway.
func (s *S3) abortUploads(ctx context.Context, dir string) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for u := range s.client.ListIncompleteUploads(lctx, s.bucket, dir+"/", true) {
		if u.Err != nil {
			return
		}
		s.core.AbortMultipartUpload(ctx, s.bucket, u.Key, u.UploadID)
	}
}

// Verify is Dir.Verify for S3: it checks that every state file the
// metadata of ref lists is there with the listed size.
func (s *S3) Verify(ctx context.Context, ref Ref) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ref.validate(); err != nil {
		return err
	}
	m, _, err := s.readMetadata(ctx, ref)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return s.verifyFiles(ctx, m)
}

func (s *S3) verifyFiles(ctx context.Context, m *Metadata) error {
	ref := m.Ref()
	objects, err := s.listObjects(ctx, s.key(ref.String()), false)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	sizes := make(map[string]int64, len(objects))
	for _, o := range objects {
		sizes[o.name] = o.size
	}
	for _, op := range m.Operators {
		for i, sf := range op.Subtasks {
			size, ok := sizes[sf.Name]
			loc := s.location(ref, sf.Name)
			switch {
			case !ok:
				return fmt.Errorf("checkpoint: %s is missing; the metadata lists it for operator %q subtask %d: %w", loc, op.ID, i, ErrMissingFile)
			case size != sf.Size:
				return fmt.Errorf("checkpoint: %s has %d bytes, the metadata says %d: %w", loc, size, sf.Size, ErrMissingFile)
			}
		}
	}
	if err := s.verifyNative(ctx, m, sizes); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// verifyNative checks that the native files m lists are there with their
// sizes: private ones among the checkpoint's objects, whose sizes by name
// are given, shared ones in the shared area, listed once when m refers
// to any. Its error names the first file at fault, its subtask and its
// object's URL, and wraps ErrMissingFile.
func (s *S3) verifyNative(ctx context.Context, m *Metadata, sizes map[string]int64) error {
	ref := m.Ref()
	var shared map[string]int64
	if len(m.SharedNames()) > 0 {
		objects, err := s.listObjects(ctx, s.key(sharedDir), false)
		if err != nil {
			return err
		}
		shared = make(map[string]int64, len(objects))
		for _, o := range objects {
			shared[o.name] = o.size
		}
	}
	for _, op := range m.Operators {
		for i, sf := range op.Subtasks {
			if sf.Native == nil {
				continue
			}
			for _, nf := range sf.Native.Files {
				have, loc, what := sizes, s.location(ref, nf.Private), nf.Private
				if nf.Shared != "" {
					have, loc, what = shared, s.url(s.key(sharedDir, nf.Shared)), "shared file of "+nf.Name
				}
				size, ok := have[cmp.Or(nf.Shared, nf.Private)]
				switch {
				case !ok:
					return fmt.Errorf("%v operator %q subtask %d: %s: %s is missing: %w", ref, op.ID, i, what, loc, ErrMissingFile)
				case size != nf.Size:
					return fmt.Errorf("%v operator %q subtask %d: %s: %s has %d bytes, the metadata says %d: %w", ref, op.ID, i, what, loc, size, nf.Size, ErrMissingFile)
				}
			}
		}
	}
	return nil
}

var _ SharedStorage = (*S3)(nil)

// CreateShared implements SharedStorage: the object <prefix>/shared/<name>
// is uploaded as a state file is (see Create), so it appears whole when
// the writer is closed and not at all when it is aborted.
func (s *S3) CreateShared(ctx context.Context, name string) (io.WriteCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateName(name); err != nil {
		return nil, fmt.Errorf("checkpoint: create shared file: %w", err)
	}
	return s.newUpload(ctx, s.key(sharedDir, name)), nil
}

// OpenShared implements SharedStorage.
func (s *S3) OpenShared(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateName(name); err != nil {
		return nil, fmt.Errorf("checkpoint: open shared file: %w", err)
	}
	key := s.key(sharedDir, name)
	r, _, _, err := s.core.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err = s.explain(key, err); errors.Is(err, errObjectNotFound) {
		return nil, fmt.Errorf("checkpoint: open %s: %w", s.url(key), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open %w", err)
	}
	return r, nil
}

// DeleteShared implements SharedStorage.
func (s *S3) DeleteShared(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateName(name); err != nil {
		return fmt.Errorf("checkpoint: delete shared file: %w", err)
	}
	key := s.key(sharedDir, name)
	// S3 deletes a missing object without complaint; the interface
	// reports it.
	if _, err := s.statObject(ctx, key); errors.Is(err, errObjectNotFound) {
		return fmt.Errorf("checkpoint: delete %s: %w", s.url(key), ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("checkpoint: delete %w", err)
	}
	if err := s.removeObjects(ctx, []string{key}); err != nil {
		return fmt.Errorf("checkpoint: delete %w", err)
	}
	return nil
}

// ListShared implements SharedStorage. The times are the server's
// (LastModified), so SharedOrphans, which compares them with completion
// times the job's clock gave, needs the two clocks to agree to well
// within a checkpoint interval.
func (s *S3) ListShared(ctx context.Context) ([]SharedInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	objects, err := s.listObjects(ctx, s.key(sharedDir), false)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var out []SharedInfo
	for _, o := range objects {
		if strings.HasSuffix(o.name, "/") {
			continue // not one of ours
		}
		out = append(out, SharedInfo{Name: o.name, Size: o.size, ModTime: o.modTime})
	}
	slices.SortFunc(out, func(a, b SharedInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Inspect is Dir.Inspect for S3.
func (s *S3) Inspect(ctx context.Context) ([]Entry, error) {
	refs, err := s.refs(ctx)
	if err != nil {
		return nil, err
	}
	var complete, broken, incomplete []Entry
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, size, err := s.readMetadata(ctx, ref)
		switch {
		case errors.Is(err, ErrNotFound):
		case errors.Is(err, ErrIncomplete):
			incomplete = append(incomplete, Entry{Ref: ref, Status: Incomplete,
				Problem: errors.New("no _metadata: being written, abandoned, or left by a crash")})
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			broken = append(broken, Entry{Ref: ref, Status: Broken, Problem: fmt.Errorf("checkpoint: %w", err)})
		default:
			info := Info{Ref: ref, CompletedAt: m.CompletedAt, Size: m.StateSize() + size, Location: s.location(ref)}
			if verr := s.verifyFiles(ctx, m); verr != nil {
				broken = append(broken, Entry{Ref: ref, Status: Broken, Info: info, Problem: verr})
			} else {
				complete = append(complete, Entry{Ref: ref, Status: Complete, Info: info})
			}
		}
	}
	slices.SortFunc(complete, func(a, b Entry) int { return newerFirst(a.Info, b.Info) })
	byRef := func(a, b Entry) int { return compareRefs(a.Ref, b.Ref) }
	slices.SortFunc(broken, byRef)
	slices.SortFunc(incomplete, byRef)
	return slices.Concat(complete, broken, incomplete), nil
}

// CheckWritable checks that the bucket exists and that the credentials
// may write, list and delete under the prefix, by writing, listing and
// removing one object — so that a job finds wrong credentials or a missing
// bucket before it reads any record. It gives up after timeout (when ctx
// has no earlier deadline), saying the endpoint did not answer.
func (s *S3) CheckWritable(ctx context.Context) error {
	const timeout = 30 * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fail := func(err error) error {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("checkpoint: %s is not writable: no answer from %s in %v: %w", s.Location(), s.endpoint, timeout, err)
		}
		return fmt.Errorf("checkpoint: %s is not writable: %w", s.Location(), err)
	}
	switch ok, err := s.client.BucketExists(ctx, s.bucket); {
	case err != nil:
		return fail(s.explain("", err))
	case !ok:
		return fail(fmt.Errorf("bucket %q does not exist at %s", s.bucket, s.endpoint))
	}
	// One fixed name: a process killed between the put and the remove
	// leaves one object, never one per run.
	key := s.key(".write-check")
	if err := s.putObject(ctx, key, nil); err != nil {
		return fail(err)
	}
	if _, err := s.listObjects(ctx, s.prefix, false); err != nil {
		return fail(err)
	}
	if err := s.removeObjects(ctx, []string{key}); err != nil {
		return fail(err)
	}
	return nil
}
