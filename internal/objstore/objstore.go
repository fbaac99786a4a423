// Package objstore is the project's S3 object storage: content-addressed
// objects (Parquet traces, whose key contains their sha256 so that an
// envelope can point at them by hash), plain objects (the archive of
// verified envelopes), and an embedded S3 server (versitygw over a local
// directory) for `bench up` and tests.
//
// Every write sends the object's sha256 as the X-Amz-Checksum-Sha256 header
// of a single-part PUT, so the server rejects bytes damaged in transit
// (BadDigest) and stores the checksum; every content-addressed read
// re-hashes what it received. See README.md for the key layout, the
// checksum semantics, what counts as transient, and the embedded server's
// limits.
package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// DefaultMaxObjectBytes bounds how much a single Get/GetContent reads into
// memory when Config.MaxObjectBytes is zero.
const DefaultMaxObjectBytes int64 = 256 << 20

// DefaultRegion is used when Config.Region is empty. Setting a region up
// front spares minio-go a GetBucketLocation round trip, and versitygw's
// default region is the same.
const DefaultRegion = "us-east-1"

// checksumHeader carries the base64 of the raw sha256 digest on every PUT.
//
// It travels as a user-supplied header (PutObjectOptions.UserMetadata keys
// that start with x-amz-checksum- are sent verbatim) and not through
// minio-go's Checksum/TrailingHeaders machinery: versitygw v1.8.0 rejects
// minio-go's trailing checksums. The key is spelled in canonical case on
// purpose: minio-go v7.4.1 only demands a TrailingHeaders-enabled client
// when it sees the lower-case spelling, and this client never enables
// trailing headers (so no request ever carries a trailer). The test
// TestServerRejectsWrongChecksum proves the header reaches the server.
const checksumHeader = "X-Amz-Checksum-Sha256"

// Config says where the store is. Endpoint, Bucket and (for any real server)
// AccessKey/SecretKey are required.
type Config struct {
	// Endpoint is "host:port" (TLS per Secure) or "http://host:port" /
	// "https://host:port" (the scheme decides TLS and overrides Secure).
	Endpoint string
	// Bucket holds every object of this store; New creates it if missing.
	Bucket    string
	AccessKey string
	SecretKey string
	// Region defaults to DefaultRegion.
	Region string
	// Secure selects https when Endpoint has no scheme.
	Secure bool
	// MaxObjectBytes bounds Get/GetContent; 0 means DefaultMaxObjectBytes.
	MaxObjectBytes int64
	// MaxRetries is minio-go's per-request retry count for network errors
	// and 5xx/throttling answers (with backoff, up to ~1 s apart); 0 means
	// minio-go's default of 10. Pipeline stages retry whole operations
	// themselves, so they may prefer a small value to fail over quickly.
	MaxRetries int
}

// Store is a bucket on an S3-compatible server. It is safe for concurrent
// use.
type Store struct {
	client   *minio.Client
	core     minio.Core
	bucket   string
	endpoint string // URL form, for error messages
	maxBytes int64
}

// New connects to cfg.Endpoint and makes sure cfg.Bucket exists (creating it
// if missing), so that a misconfigured endpoint or credentials fail at start
// up and not on the first trace upload. Errors name the endpoint and the
// bucket; a server that is down yields an error for which IsTransient is
// true.
func New(ctx context.Context, cfg Config) (*Store, error) {
	host, secure, err := parseEndpoint(cfg.Endpoint, cfg.Secure)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if secure {
		scheme = "https"
	}
	epURL := scheme + "://" + host
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("objstore: endpoint %s: no bucket configured", epURL)
	}
	region := cfg.Region
	if region == "" {
		region = DefaultRegion
	}
	maxBytes := cfg.MaxObjectBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxObjectBytes
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("objstore: endpoint %s: %w", epURL, err)
	}
	// Pipeline stages keep dozens of requests in flight to one endpoint;
	// minio-go's default of 16 idle connections per host would close and
	// redial the rest on every request.
	tr.MaxIdleConnsPerHost = 256
	client, err := minio.New(host, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     secure,
		Region:     region,
		MaxRetries: cfg.MaxRetries,
		Transport:  tr,
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: endpoint %s bucket %q: %w", epURL, cfg.Bucket, err)
	}
	s := &Store{client: client, core: minio.Core{Client: client}, bucket: cfg.Bucket, endpoint: epURL, maxBytes: maxBytes}

	exists, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("objstore: endpoint %s bucket %q: checking that the bucket exists: %w", epURL, cfg.Bucket, err)
	}
	if !exists {
		err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: region})
		// Another process may have created it between the two calls.
		var er minio.ErrorResponse
		if err != nil && !(errors.As(err, &er) && er.Code == "BucketAlreadyOwnedByYou") {
			return nil, fmt.Errorf("objstore: endpoint %s bucket %q: creating the bucket: %w", epURL, cfg.Bucket, err)
		}
	}
	return s, nil
}

// parseEndpoint accepts "host:port" or "http(s)://host:port" and returns
// the host:port minio-go wants and whether to use TLS.
func parseEndpoint(ep string, secure bool) (string, bool, error) {
	if ep == "" {
		return "", false, errors.New("objstore: no endpoint configured")
	}
	if !strings.Contains(ep, "://") {
		if strings.ContainsAny(ep, "/?#") {
			return "", false, fmt.Errorf("objstore: endpoint %q: want host:port or http(s)://host:port", ep)
		}
		return ep, secure, nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", false, fmt.Errorf("objstore: endpoint %q: %w", ep, err)
	}
	switch u.Scheme {
	case "http":
		secure = false
	case "https":
		secure = true
	default:
		return "", false, fmt.Errorf("objstore: endpoint %q: scheme must be http or https", ep)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("objstore: endpoint %q: want http(s)://host:port with no path, query or user", ep)
	}
	return u.Host, secure, nil
}

// Bucket returns the store's bucket name.
func (s *Store) Bucket() string { return s.bucket }

// Endpoint returns the endpoint URL the store talks to.
func (s *Store) Endpoint() string { return s.endpoint }

// PutContent stores data under its content-addressed key
// (prefix + "sha256/" + hex + ext, see ContentKey) and returns that key and
// the hex sha256. The sha256 goes with the PUT so the server verifies the
// bytes it received. It is idempotent: when an object already exists under
// the key with the same stored sha256 and size, nothing is uploaded (a
// redelivered pipeline message costs one HEAD). An object under the key
// whose checksum differs or is missing is overwritten with the right bytes.
func (s *Store) PutContent(ctx context.Context, prefix string, data []byte, contentType string) (key, sha256hex string, err error) {
	sum := sha256.Sum256(data)
	sha256hex = hex.EncodeToString(sum[:])
	key, err = ContentKey(prefix, sha256hex, contentType)
	if err != nil {
		return "", "", err
	}
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{Checksum: true})
	switch {
	case err == nil:
		if info.ChecksumSHA256 == b64 && info.Size == int64(len(data)) {
			return key, sha256hex, nil
		}
	case !isNotFound(err):
		return "", "", s.wrap("checking", key, err)
	}
	if err := s.putObject(ctx, key, data, contentType, b64); err != nil {
		return "", "", err
	}
	return key, sha256hex, nil
}

// GetContent downloads key and checks that its sha256 is wantSHA256hex.
// It returns ErrNotFound when the object is absent, ErrHashMismatch
// (wrapped with both hashes) when the bytes hash to something else, and
// ErrTooLarge past Config.MaxObjectBytes. The check is done here, on the
// bytes received, so it covers corruption at rest, in transit and a wrong
// pointer alike.
func (s *Store) GetContent(ctx context.Context, key, wantSHA256hex string) ([]byte, error) {
	want := strings.ToLower(wantSHA256hex)
	if !isSHA256Hex(want) {
		return nil, fmt.Errorf("%w: get %s: expected sha256 %q is not 64 hex digits", ErrInvalidKey, s.URI(key), wantSHA256hex)
	}
	data, _, err := s.fetch(ctx, key)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("%w: get %s: want %s, got %s", ErrHashMismatch, s.URI(key), want, got)
	}
	return data, nil
}

// Put stores data under key as is (no content addressing), with its sha256
// sent for the server to check and store. Used for the envelope archive,
// whose keys are chosen by the caller. It overwrites.
func (s *Store) Put(ctx context.Context, key string, data []byte, contentType string) error {
	if key == "" {
		return fmt.Errorf("%w: put: empty key", ErrInvalidKey)
	}
	sum := sha256.Sum256(data)
	return s.putObject(ctx, key, data, contentType, base64.StdEncoding.EncodeToString(sum[:]))
}

// Get returns the object under key, ErrNotFound when absent, ErrTooLarge
// past Config.MaxObjectBytes. When the server reports the sha256 it stored
// at write time (every object written by this package), the bytes are
// checked against it and ErrHashMismatch is returned on a difference, so
// corruption at rest is noticed even without an expected hash.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	data, stored, err := s.fetch(ctx, key)
	if err != nil {
		return nil, err
	}
	if stored != "" {
		sum := sha256.Sum256(data)
		if got := base64.StdEncoding.EncodeToString(sum[:]); got != stored {
			return nil, fmt.Errorf("%w: get %s: stored checksum %s, got %s", ErrHashMismatch, s.URI(key), b64ToHex(stored), hex.EncodeToString(sum[:]))
		}
	}
	return data, nil
}

// Exists reports whether an object exists under key.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, s.wrap("stat", key, err)
}

// putObject is a single-part PUT with the given base64 sha256 in the
// checksum header. Multipart is disabled because the header covers the
// whole body only on a single-part PUT (5 GiB maximum on AWS, far above
// anything read back under MaxObjectBytes).
func (s *Store) putObject(ctx context.Context, key string, data []byte, contentType, sha256b64 string) error {
	opts := minio.PutObjectOptions{
		ContentType:      contentType,
		DisableMultipart: true,
		UserMetadata:     map[string]string{checksumHeader: sha256b64},
		// Over plain http minio-go signs the body as an aws-chunked stream.
		// For an empty body it declares Content-Length: 0 yet still writes
		// the final chunk's framing, which versitygw then reads as the
		// next request on the connection and answers with an unsolicited
		// 400, failing whatever request comes next. An empty body has
		// nothing to stream: send it unsigned (the server still checks the
		// sha256 header).
		DisableContentSha256: len(data) == 0,
	}
	if _, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)), opts); err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

// fetch reads key whole (bounded by maxBytes) with one GET and returns the
// base64 sha256 the server stored for it ("" if none).
func (s *Store) fetch(ctx context.Context, key string) ([]byte, string, error) {
	if key == "" {
		return nil, "", fmt.Errorf("%w: get: empty key", ErrInvalidKey)
	}
	opts := minio.GetObjectOptions{}
	// Ask for the stored checksum in the response headers without turning
	// on minio-go's own verifying reader (its error is an unwrapped string);
	// the caller compares hashes itself.
	opts.Set("x-amz-checksum-mode", "ENABLED")
	body, info, _, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, "", s.wrap("get", key, err)
	}
	defer body.Close()
	if info.Size > s.maxBytes {
		return nil, "", fmt.Errorf("%w: get %s: %d bytes > %d", ErrTooLarge, s.URI(key), info.Size, s.maxBytes)
	}
	// LimitReader guards against a server that lies about Content-Length.
	data, err := io.ReadAll(io.LimitReader(body, s.maxBytes+1))
	if err != nil {
		return nil, "", s.wrap("get", key, err)
	}
	if int64(len(data)) > s.maxBytes {
		return nil, "", fmt.Errorf("%w: get %s: more than %d bytes", ErrTooLarge, s.URI(key), s.maxBytes)
	}
	if info.Size >= 0 && int64(len(data)) != info.Size {
		return nil, "", s.wrap("get", key, fmt.Errorf("read %d of %d bytes: %w", len(data), info.Size, io.ErrUnexpectedEOF))
	}
	return data, info.ChecksumSHA256, nil
}

// wrap adds the operation, object URI and endpoint to err, and marks S3
// "no such key" answers with ErrNotFound (keeping the original error
// reachable through errors.As).
func (s *Store) wrap(op, key string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%w: %s %s (endpoint %s): %w", ErrNotFound, op, s.URI(key), s.endpoint, err)
	}
	return fmt.Errorf("objstore: %s %s (endpoint %s): %w", op, s.URI(key), s.endpoint, err)
}

// isNotFound: the object is absent. A missing bucket is not reported as
// ErrNotFound: that is a configuration error, and it stays visible as the
// S3 NoSuchBucket answer (still permanent for IsTransient).
func isNotFound(err error) bool {
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	if er.Code == "NoSuchKey" {
		return true
	}
	return er.StatusCode == http.StatusNotFound && er.Code != "NoSuchBucket"
}

func b64ToHex(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return s
	}
	return hex.EncodeToString(b)
}
