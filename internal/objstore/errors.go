package objstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/minio/minio-go/v7"
)

// Sentinel errors. Callers branch on them with errors.Is; the returned errors
// wrap them with the key, bucket and (for hash mismatches) both hashes.
var (
	// ErrNotFound: the object (key) does not exist. Permanent: retrying will
	// not make a missing trace appear, so the stage dead-letters instead.
	ErrNotFound = errors.New("objstore: object not found")
	// ErrHashMismatch: the bytes read do not hash to the expected sha256
	// (or to the checksum the server stored at write time). Permanent: the
	// object is corrupt or the pointer to it is wrong; re-reading returns
	// the same bytes.
	ErrHashMismatch = errors.New("objstore: sha256 mismatch")
	// ErrTooLarge: the object is bigger than Config.MaxObjectBytes. Permanent.
	// The bound exists so that a huge or hostile object cannot exhaust the
	// memory of a verifier that reads it whole.
	ErrTooLarge = errors.New("objstore: object larger than the configured limit")
	// ErrInvalidKey: a key, prefix, hash or URI is malformed. Permanent.
	ErrInvalidKey = errors.New("objstore: invalid key")
)

// IsTransient reports whether err is worth retrying: the request may succeed
// later without anything changing on our side. Pipeline stages retry
// transient failures (with backoff) and dead-letter permanent ones, so the
// classification errs towards "transient" for anything that looks like the
// network or the server being unavailable, and towards "permanent" for
// anything the server answered deliberately.
//
// Transient: connection refused/reset, timeouts, DNS and other network
// errors, truncated responses, HTTP 5xx, 408, 429, 499, S3 throttling codes
// (SlowDown, RequestTimeout, ...), and context cancellation/deadline (the
// request itself was fine; the caller gave up, e.g. on shutdown, and the work
// must not be dead-lettered for it).
//
// Permanent: ErrNotFound, ErrHashMismatch, ErrTooLarge, ErrInvalidKey, every
// other 4xx (access denied, bad digest, no such bucket, ...), TLS certificate
// errors (a misconfiguration that will not heal by itself), and errors this
// function does not recognise.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrHashMismatch) ||
		errors.Is(err, ErrTooLarge) || errors.Is(err, ErrInvalidKey) {
		return false
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && (er.StatusCode != 0 || er.Code != "") {
		switch er.Code {
		case "SlowDown", "SlowDownRead", "SlowDownWrite", "RequestTimeout",
			"Throttling", "ThrottlingException", "RequestLimitExceeded",
			"RequestThrottled", "InternalError", "ServiceUnavailable":
			return true
		}
		switch {
		case er.StatusCode >= 500:
			return true
		case er.StatusCode == http.StatusRequestTimeout,
			er.StatusCode == http.StatusTooManyRequests,
			er.StatusCode == 499:
			return true
		}
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	// Certificate problems are wrapped in *url.Error (a net.Error), so they
	// must be ruled out before the generic network check below.
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostnameErr      x509.HostnameError
		certInvalid      x509.CertificateInvalidError
		certVerify       *tls.CertificateVerificationError
		recordHeader     tls.RecordHeaderError
	)
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostnameErr) ||
		errors.As(err, &certInvalid) || errors.As(err, &certVerify) ||
		errors.As(err, &recordHeader) {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.ETIMEDOUT) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var nerr net.Error // *net.OpError, *net.DNSError, *url.Error, timeouts
	return errors.As(err, &nerr)
}
