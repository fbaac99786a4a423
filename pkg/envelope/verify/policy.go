package verify

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/inferencebench/bench/pkg/envelope/devkey"
)

// PolicyFile is the on-disk form of a Policy (JSON). Relative paths are
// resolved against the policy file's directory. Unknown fields are an error,
// so that a misspelt entry cannot silently weaken the policy.
//
//	{
//	  "dev_keys": [
//	    {"name": "marathon", "public_key_file": "trust/marathon.pub"},
//	    {"name": "ci", "public_key": "-----BEGIN PUBLIC KEY-----\n..."}
//	  ],
//	  "keyless": [
//	    {"issuer": "https://token.actions.githubusercontent.com",
//	     "identity": "https://github.com/org/repo/.github/workflows/bench.yml@refs/heads/main"},
//	    {"issuer": "https://token.actions.githubusercontent.com",
//	     "identity_pattern": "https://github\\.com/org/repo/\\.github/workflows/[^@]+@refs/tags/v.*"}
//	  ],
//	  "trusted_root": "trusted_root.json",
//	  "require_sct": true,
//	  "require_signed_timestamp": false
//	}
//
// "trusted_root" is the Sigstore trusted_root.json keyless signatures are
// verified against offline; "tuf": {"mirror": URL, "root": FILE} (both
// optional; {} is the public-good instance) fetches one online instead or as
// well. "require_sct" (default true) can be set false for a private Fulcio
// that logs to no CT log; "require_signed_timestamp" demands an RFC 3161
// timestamp rather than accepting a transparency log's integrated time.
type PolicyFile struct {
	DevKeys []struct {
		Name          string `json:"name"`
		PublicKeyFile string `json:"public_key_file"`
		PublicKey     string `json:"public_key"`
	} `json:"dev_keys"`
	Keyless []struct {
		Issuer          string `json:"issuer"`
		Identity        string `json:"identity"`
		IdentityPattern string `json:"identity_pattern"`
	} `json:"keyless"`
	TrustedRoot string `json:"trusted_root"`
	TUF         *struct {
		Mirror string `json:"mirror"`
		Root   string `json:"root"`
	} `json:"tuf"`
	RequireSCT             *bool `json:"require_sct"`
	RequireSignedTimestamp bool  `json:"require_signed_timestamp"`
}

// LoadPolicy reads a policy file. A trusted root it names is loaded now, so
// that a missing or broken one is a policy error, not a verification failure.
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := ParsePolicy(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy reads a policy from JSON; relative paths are resolved against dir.
func ParsePolicy(data []byte, dir string) (*Policy, error) {
	var f PolicyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the policy object")
	}
	resolve := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	p := &Policy{RequireSignedTimestamp: f.RequireSignedTimestamp}
	if f.RequireSCT != nil {
		p.SkipSCT = !*f.RequireSCT
	}
	if f.TrustedRoot != "" {
		if err := p.SetTrustedRoot(resolve(f.TrustedRoot)); err != nil {
			return nil, fmt.Errorf("trusted_root: %w", err)
		}
	}
	if f.TUF != nil {
		o := TUFOptions{MirrorURL: f.TUF.Mirror}
		if f.TUF.Root != "" {
			data, err := os.ReadFile(resolve(f.TUF.Root))
			if err != nil {
				return nil, fmt.Errorf("tuf.root: %w", err)
			}
			o.RootJSON = data
		}
		if err := p.UseTUF(o); err != nil {
			return nil, fmt.Errorf("tuf: %w", err)
		}
	}
	for i, k := range f.DevKeys {
		if (k.PublicKeyFile == "") == (k.PublicKey == "") {
			return nil, fmt.Errorf("dev_keys[%d]: give exactly one of public_key_file and public_key", i)
		}
		name := k.Name
		var (
			pub ed25519.PublicKey
			err error
		)
		if k.PublicKeyFile != "" {
			if name == "" {
				name = k.PublicKeyFile
			}
			pub, err = devkey.LoadPublicKey(resolve(k.PublicKeyFile))
		} else {
			if name == "" {
				name = fmt.Sprintf("dev_keys[%d]", i)
			}
			pub, err = devkey.ParsePublicKey([]byte(k.PublicKey))
		}
		if err != nil {
			return nil, fmt.Errorf("dev_keys[%d]: %w", i, err)
		}
		p.AddDevKey(name, pub)
	}
	for i, id := range f.Keyless {
		if err := p.AddIdentity(id.Issuer, id.Identity, id.IdentityPattern); err != nil {
			return nil, fmt.Errorf("keyless[%d]: %w", i, err)
		}
	}
	if len(p.DevKeys) == 0 && len(p.Identities) == 0 {
		return nil, fmt.Errorf("the policy trusts no one: add dev_keys or keyless entries")
	}
	return p, nil
}
