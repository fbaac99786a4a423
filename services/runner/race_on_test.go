//go:build race

package runner

// raceEnabled: the race detector slows every goroutine several times over,
// which moves latencies measured in-process by milliseconds.
const raceEnabled = true
