package trace

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// readBoth reads data with the page decoder (falling back to arrow-go as
// Read does) and with arrow-go's column readers only, and fails t unless
// both fail or both return the same Metadata and Records, or if the page
// decoder panicked. It returns the page decoder's result.
func readBoth(t testing.TB, data []byte) ([]Record, readStats, error) {
	t.Helper()
	meta, recs, st, err := read(bytes.NewReader(data), int64(len(data)), false)
	ameta, arecs, _, aerr := read(bytes.NewReader(data), int64(len(data)), true)
	if st.panics > 0 {
		t.Fatalf("the page decoder panicked on %d column chunks (error: %v)", st.panics, err)
	}
	switch {
	case err != nil && aerr != nil:
		return nil, st, err
	case err != nil:
		t.Fatalf("page decoder: %v; arrow-go read %d records", err, len(arecs))
	case aerr != nil:
		t.Fatalf("page decoder read %d records (%d chunks by arrow-go); arrow-go: %v", len(recs), st.fallbacks, aerr)
	}
	if meta != ameta {
		t.Fatalf("metadata: page decoder %+v, arrow-go %+v", meta, ameta)
	}
	if len(recs) != len(arecs) {
		t.Fatalf("page decoder read %d records, arrow-go %d", len(recs), len(arecs))
	}
	for i := range recs {
		if !reflect.DeepEqual(recs[i], arecs[i]) {
			t.Fatalf("record %d:\npage decoder %#v\n    arrow-go %#v", i, recs[i], arecs[i])
		}
	}
	return recs, st, nil
}

// requireSameReads is readBoth for data that must read without error.
func requireSameReads(t testing.TB, data []byte) ([]Record, readStats) {
	t.Helper()
	recs, st, err := readBoth(t, data)
	if err != nil {
		t.Fatal(err)
	}
	return recs, st
}

// compactRecords makes n records that cost a few bits each in a trace
// file, so that a file of more than one of the Writer's row groups stays
// small enough for a fuzzing seed: few fields set, and those mostly
// constant or counting up, with an error and ITL list now and then.
func compactRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		r := &recs[i]
		r.Index, r.Phase, r.Status, r.TokenSource = int64(i), PhaseMeasure, StatusOK, TokensChunks
		r.SentNS = 1_760_000_000_000_000_000 + int64(i)*1000
		if i%4096 == 7 {
			r.Status, r.ErrorClass, r.Error, r.HTTPStatus = StatusError, ErrHTTPStatus, "503 Service Unavailable", 503
		}
		if i%1000 == 3 {
			r.ITLNS = []int64{int64(i), 5, -7}
		}
	}
	return recs
}

// writerTraces are traces from the Writer: several sizes, every field's
// NULLs and edge values, errors and ITL lists, and (the last) two row
// groups.
func writerTraces(t testing.TB) [][]byte {
	t.Helper()
	return [][]byte{
		writeToBuffer(t, Metadata{RunID: "r"}, benchRecords(2)),
		writeToBuffer(t, Metadata{RunID: "r"}, benchRecords(300)),
		writeToBuffer(t, Metadata{}, nil),
		writeToBuffer(t, Metadata{RunID: "one"}, randomRecords(1, 1)),
		writeToBuffer(t, Metadata{RunID: "r"}, randomRecords(3, 40)),
		writeToBuffer(t, Metadata{RunID: "é"}, randomRecords(4, 150)),
		writeToBuffer(t, Metadata{RunID: "two row groups"}, compactRecords(RowGroupRows+50)),
	}
}

// otherTraces are traces from pqarrow's generic writer in each of the
// otherWriters layouts, with row groups of 25 rows.
func otherTraces(t testing.TB) [][]byte {
	t.Helper()
	recs := randomRecords(17, 60)
	var out [][]byte
	for _, w := range otherWriters() {
		out = append(out, w.write(t, recs, 25))
	}
	return out
}

// FuzzRead checks that, for any input, the page decoder (falling back to
// arrow-go where Read does) and arrow-go's column readers alone agree: both
// fail, or both return the same Metadata and Records. Run it with
//
//	go test -run '^$' -fuzz '^FuzzRead$' -fuzztime 5m ./services/runner/trace/
//
// Inputs it has found are kept in testdata/fuzz/FuzzRead, which plain
// go test runs too.
func FuzzRead(f *testing.F) {
	// Not the two-row-group trace: each of its mutants decodes 65,586 rows
	// twice (~100 ms), and the fuzzer ran ~5 execs/s with it among the
	// seeds. The pqarrow seeds below have many row groups of 25 rows, and
	// TestReadersAgree covers the big one.
	for _, data := range writerTraces(f) {
		if len(data) > 32<<10 {
			continue
		}
		f.Add(data)
	}
	for _, data := range otherTraces(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		readBoth(t, data)
	})
}

// TestReadersAgree runs the differential check of FuzzRead on generated
// traces and damaged copies of them, in every go test, and checks that the
// page decoder reads every column chunk that the Writer writes by itself.
func TestReadersAgree(t *testing.T) {
	traces := writerTraces(t)
	for i, n := range []int{0, 1, 2, 3, 36, 37, 500, 4097, RowGroupRows + 5} {
		traces = append(traces, writeToBuffer(t, Metadata{RunID: fmt.Sprint(n)}, randomRecords(uint64(1000+i), n)))
	}
	for _, data := range traces {
		_, st := requireSameReads(t, data)
		if st.fallbacks != 0 {
			t.Fatalf("a trace from the Writer: %d column chunks read with arrow-go", st.fallbacks)
		}
	}
	for _, data := range otherTraces(t) {
		requireSameReads(t, data)
	}

	// Damaged traces: flipped bytes, in the pages and in the footer.
	rng := rand.New(rand.NewPCG(7, 8))
	small := append(writerTraces(t)[:6], otherTraces(t)[:3]...)
	trials := 3000
	if testing.Short() {
		trials = 300
	}
	errs := 0
	for i := range trials {
		bad := bytes.Clone(small[i%len(small)])
		for range 1 + rng.IntN(3) {
			bad[rng.IntN(len(bad))] ^= byte(1 + rng.IntN(255))
		}
		if _, _, err := readBoth(t, bad); err != nil {
			errs++
		}
	}
	t.Logf("%d of %d damaged traces gave an error on both paths; the rest read alike", errs, trials)
}
