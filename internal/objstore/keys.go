package objstore

import (
	"fmt"
	"mime"
	"strings"
)

// Content-addressed key layout:
//
//	<prefix>sha256/<64 lowercase hex digits><ext>
//
// for example "traces/sha256/9f86d0...0f00a08.parquet". The prefix groups
// objects by kind ("traces/", "analytics/"); a non-empty prefix without a
// trailing slash gets one. The extension comes from a fixed table keyed by
// the media type (see extByMediaType) and is empty for unknown types, so the
// same bytes with the same content type always land on the same key on every
// machine (mime.ExtensionsByType is not used: it depends on the host's
// mime.types). The hash in the key is the sha256 of the object's bytes, which
// lets a reader check the pointer and the data against each other.
const shaDir = "sha256/"

// extByMediaType maps a media type (parameters stripped, lower case) to the
// key's extension.
var extByMediaType = map[string]string{
	"application/vnd.apache.parquet": ".parquet",
	"application/x-parquet":          ".parquet",
	"application/parquet":            ".parquet",
	"application/json":               ".json",
	"application/x-ndjson":           ".jsonl",
	"application/jsonl":              ".jsonl",
	"application/jsonlines":          ".jsonl",
	"text/csv":                       ".csv",
	"text/plain":                     ".txt",
	"application/gzip":               ".gz",
	"application/zstd":               ".zst",
}

// ExtForContentType returns the extension PutContent uses for contentType
// ("" when the type is empty, unknown or unparsable).
func ExtForContentType(contentType string) string {
	if contentType == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return extByMediaType[strings.ToLower(mt)]
}

// normalizePrefix validates a key prefix and gives it a trailing slash.
func normalizePrefix(prefix string) (string, error) {
	if prefix == "" {
		return "", nil
	}
	if strings.HasPrefix(prefix, "/") {
		return "", fmt.Errorf("%w: prefix %q must not start with '/'", ErrInvalidKey, prefix)
	}
	for _, seg := range strings.Split(strings.TrimSuffix(prefix, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("%w: prefix %q has an empty, '.' or '..' segment", ErrInvalidKey, prefix)
		}
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return prefix, nil
}

// ContentKey returns the content-addressed key of an object whose sha256 is
// sha256hex (see the layout above). It is what PutContent stores under, so a
// caller that knows the hash can compute the key without uploading.
func ContentKey(prefix, sha256hex, contentType string) (string, error) {
	p, err := normalizePrefix(prefix)
	if err != nil {
		return "", err
	}
	if !isSHA256Hex(sha256hex) {
		return "", fmt.Errorf("%w: %q is not 64 lowercase hex digits", ErrInvalidKey, sha256hex)
	}
	return p + shaDir + sha256hex + ExtForContentType(contentType), nil
}

// KeySHA256 extracts the sha256 (hex) from a content-addressed key, so that a
// verifier can check that the hash an envelope declares is the one its key
// names. ok is false when key does not follow the layout.
func KeySHA256(key string) (sha256hex string, ok bool) {
	i := strings.LastIndex(key, shaDir)
	if i < 0 || (i > 0 && key[i-1] != '/') {
		return "", false
	}
	rest := key[i+len(shaDir):]
	if len(rest) < 64 {
		return "", false
	}
	h, ext := rest[:64], rest[64:]
	if !isSHA256Hex(h) || (ext != "" && (!strings.HasPrefix(ext, ".") || strings.Contains(ext, "/"))) {
		return "", false
	}
	return h, true
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// URI returns "s3://<bucket>/<key>", the form envelopes and logs use to name
// an object independently of the endpoint that serves it.
func (s *Store) URI(key string) string {
	return "s3://" + s.bucket + "/" + key
}

// ParseURI splits "s3://<bucket>/<key>" into its bucket and key. The key may
// contain slashes; both parts must be non-empty.
func ParseURI(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%w: %q does not start with s3://", ErrInvalidKey, uri)
	}
	bucket, key, ok = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("%w: %q is not s3://<bucket>/<key>", ErrInvalidKey, uri)
	}
	return bucket, key, nil
}
