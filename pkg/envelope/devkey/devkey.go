// Package devkey signs envelopes with an Ed25519 key in the reference's
// dev-key format, and checks such signatures.
//
// The signed message is the 64 ASCII characters of the content hash (not the
// raw digest, not the body). The signature block carries the signer's public
// key as SPKI PEM and the signature as standard base64:
//
//	{"method":"dev-key","certificate":"-----BEGIN PUBLIC KEY-----\n...","rekor_log_index":-1,"bundle":"..."}
//
// A valid dev-key signature proves only that the holder of the embedded key
// signed the envelope. Whether that key is trusted is a policy question,
// answered by package verify.
package devkey

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/inferencebench/bench/pkg/envelope"
)

// Errors that callers branch on.
var (
	// ErrAlreadySigned: Sign refuses to replace an existing signature.
	ErrAlreadySigned = errors.New("envelope is already signed: remove the signature block first if you really mean to re-sign it")
	// ErrBadSignature: the signature does not match the content hash under
	// the embedded key (the envelope was changed, or signed by another key).
	ErrBadSignature = errors.New("signature does not match envelope content_hash (tampered or wrong key)")
	// ErrMalformed: the signature block cannot be read.
	ErrMalformed = errors.New("malformed dev-key signature block")
)

// Generate creates a new Ed25519 key pair.
func Generate() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return priv, err
}

// MarshalPrivateKey encodes a private key as unencrypted PKCS#8 PEM, the
// format the reference reads.
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey encodes a public key as SPKI PEM with a trailing newline,
// the content of a .pub file.
func MarshalPublicKey(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // cannot happen for a 32-byte Ed25519 key
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// PublicKeyPath returns where WriteKeyPair puts the public half of the key
// at privPath: "cosign.key" -> "cosign.pub", anything else gets ".pub" added.
func PublicKeyPath(privPath string) string {
	if strings.HasSuffix(privPath, ".key") {
		return strings.TrimSuffix(privPath, ".key") + ".pub"
	}
	return privPath + ".pub"
}

// WriteKeyPair writes priv to privPath (mode 0600, never overwriting) and its
// public key to PublicKeyPath(privPath) (mode 0644). It returns the public
// key's path.
func WriteKeyPair(privPath string, priv ed25519.PrivateKey) (string, error) {
	pubPath := PublicKeyPath(privPath)
	privPEM, err := MarshalPrivateKey(priv)
	if err != nil {
		return "", err
	}
	if dir := filepath.Dir(privPath); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
	}
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", fmt.Errorf("refusing to overwrite existing key file %s", p)
		}
	}
	// O_EXCL: a file created between the check above and here is not clobbered.
	f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(privPEM); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.WriteFile(pubPath, MarshalPublicKey(priv.Public().(ed25519.PublicKey)), 0o644); err != nil {
		return "", err
	}
	return pubPath, nil
}

// LoadPrivateKey reads a PKCS#8 PEM Ed25519 private key. It refuses a key
// file that other users can read.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("private key %s is readable by others (mode %04o): run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PKCS#8 PEM private key (want a \"BEGIN PRIVATE KEY\" block)", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: expected an Ed25519 private key, got %T", path, key)
	}
	return priv, nil
}

// ParsePublicKey reads an Ed25519 public key from SPKI PEM.
func ParsePublicKey(pemText []byte) (ed25519.PublicKey, error) {
	block, rest := pem.Decode(pemText)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("not an SPKI PEM public key (want a \"BEGIN PUBLIC KEY\" block)")
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("unexpected data after the PEM block")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("expected an Ed25519 public key, got %T", key)
	}
	return pub, nil
}

// LoadPublicKey reads an Ed25519 SPKI PEM public key file.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("public key file %s does not exist", path)
		}
		return nil, err
	}
	pub, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

// KeyID returns the reference's short fingerprint of a public key: the first
// 16 hex characters of the sha256 of its PEM text without the final newline.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(string(MarshalPublicKey(pub)))))
	return hex.EncodeToString(sum[:8])
}

// Sign adds a dev-key signature to an unsigned envelope and returns its
// content hash.
func Sign(env *envelope.Envelope, priv ed25519.PrivateKey) (string, error) {
	if env.Signature != nil {
		return "", ErrAlreadySigned
	}
	if len(priv) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("devkey: a private key is %d bytes, this one %d", ed25519.PrivateKeySize, len(priv))
	}
	hash := env.ContentHash()
	sig := ed25519.Sign(priv, []byte(hash))
	env.Signature = &envelope.Signature{
		Method:        envelope.MethodDevKey,
		Certificate:   strings.TrimSpace(string(MarshalPublicKey(priv.Public().(ed25519.PublicKey)))),
		RekorLogIndex: envelope.NoRekorIndex,
		Bundle:        base64.StdEncoding.EncodeToString(sig),
	}
	return hash, nil
}

// EmbeddedKey returns the public key in a dev-key signature block.
func EmbeddedKey(sig *envelope.Signature) (ed25519.PublicKey, error) {
	if sig == nil || sig.Method != envelope.MethodDevKey {
		return nil, fmt.Errorf("%w: not a dev-key signature", ErrMalformed)
	}
	pub, err := ParsePublicKey([]byte(sig.Certificate))
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %v", ErrMalformed, err)
	}
	return pub, nil
}

// Check verifies that the dev-key signature of env is valid for contentHash
// under pub. It says nothing about whether pub is trusted.
func Check(sig *envelope.Signature, contentHash string, pub ed25519.PublicKey) error {
	raw := sig.Bundle
	// Python's b64decode(validate=True) refuses anything outside the
	// alphabet; Go's decoder would skip newlines.
	if strings.ContainsAny(raw, "\r\n \t") {
		return fmt.Errorf("%w: bundle: white space in base64", ErrMalformed)
	}
	sigBytes, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return fmt.Errorf("%w: bundle: %v", ErrMalformed, err)
	}
	if len(sigBytes) != ed25519.SignatureSize {
		return fmt.Errorf("%w: bundle: signature is %d bytes, want %d", ErrMalformed, len(sigBytes), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, []byte(contentHash), sigBytes) {
		return ErrBadSignature
	}
	return nil
}
