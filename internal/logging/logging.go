// Package logging configures zerolog for the services: JSON lines for log
// collectors, or a readable console format for people, at a chosen level.
// Every service logs through the zerolog.Logger it is given; only the
// command line builds one.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Options chooses the format and level.
type Options struct {
	// Format is "json", "console" or "auto" (console when Out is a
	// terminal, JSON otherwise); "" means auto.
	Format string
	// Level is trace, debug, info (default), warn or error.
	Level string
	Out   io.Writer // default os.Stderr
}

// New returns a logger with a timestamp on every line.
func New(o Options) (zerolog.Logger, error) {
	out := o.Out
	if out == nil {
		out = os.Stderr
	}
	level := zerolog.InfoLevel
	if o.Level != "" {
		l, err := zerolog.ParseLevel(strings.ToLower(o.Level))
		if err != nil || l == zerolog.NoLevel {
			return zerolog.Nop(), fmt.Errorf("log level %q: want trace, debug, info, warn or error", o.Level)
		}
		level = l
	}
	format := o.Format
	if format == "" || format == "auto" {
		format = "json"
		if IsTerminal(out) {
			format = "console"
		}
	}
	switch format {
	case "json":
	case "console":
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly}
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q: want json, console or auto", o.Format)
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger(), nil
}

// IsTerminal reports whether w is a terminal (a character device), where
// output may be interactive: console logs, progress bars, live tables.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
