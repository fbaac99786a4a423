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
//	  "trusted_root": "trusted_root.json"
//	}
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
}

// LoadPolicy reads a policy file.
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
	p := &Policy{TrustedRoot: resolve(f.TrustedRoot)}
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
