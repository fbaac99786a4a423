package envelope

import (
	"fmt"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// A Migration upgrades a parsed envelope from one envelope_version to the
// next. Migrations work on the JSON value, before Decode, so that the typed
// structs only ever describe the current version.
//
// A migrated envelope is a new document: its content hash differs from the
// one that was signed. Verification therefore always happens on the
// envelope as signed (Verify checks the version it was signed at), and
// migration serves readers that want the current shape of older results.
type Migration struct {
	From, To string
	Apply    func(canonjson.Value) (canonjson.Value, error)
}

// Migrator holds the chain of migrations to the current Version.
type Migrator struct {
	Current    string
	Migrations []Migration
}

// DefaultMigrator knows every migration this package ships. v1 is the only
// version so far, so the chain is empty.
var DefaultMigrator = Migrator{Current: Version}

// Migrate upgrades v with DefaultMigrator.
func Migrate(v canonjson.Value) (canonjson.Value, error) { return DefaultMigrator.Migrate(v) }

// Migrate applies migrations until v is at m.Current. An absent
// envelope_version means v1, as in the reference.
func (m Migrator) Migrate(v canonjson.Value) (canonjson.Value, error) {
	for steps := 0; ; steps++ {
		version := "v1"
		if ver, ok := v.Get("envelope_version"); ok {
			if ver.Kind() != canonjson.String {
				return v, &ValidationError{Errors: []FieldError{{Path: "envelope_version", Msg: fmt.Sprintf("must be a string, not %s", kindName(ver))}}}
			}
			version = ver.Str() // a Literal: not stripped
		}
		if version == m.Current {
			return v, nil
		}
		if steps > len(m.Migrations) {
			return v, fmt.Errorf("%w: envelope_version migrations loop at %q", ErrInvalid, version)
		}
		next := m.find(version)
		if next == nil {
			return v, &ValidationError{Errors: []FieldError{{Path: "envelope_version", Msg: fmt.Sprintf("unsupported version %q: this build reads %s", abbreviate(version), m.Current)}}}
		}
		out, err := next.Apply(v)
		if err != nil {
			return v, fmt.Errorf("%w: migrating envelope_version %s to %s: %v", ErrInvalid, next.From, next.To, err)
		}
		v = out
	}
}

func (m Migrator) find(from string) *Migration {
	for i := range m.Migrations {
		if m.Migrations[i].From == from {
			return &m.Migrations[i]
		}
	}
	return nil
}
