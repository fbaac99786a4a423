package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/inferencebench/bench/services/runner/load"
	"github.com/inferencebench/bench/services/runner/metrics"
)

// Matrix is a batch as people write it: lists whose product is the jobs.
// Every model runs on every engine with every dataset, seed and load group,
// repeats times; each load group is one job (its points share one engine
// launch). The YAML form:
//
//	batch: nightly-llama             # the batch's name
//	pool: h100                       # runners that take the jobs
//	labels: {gpu_count: "8"}         # and the labels they must have
//	max_attempts: 3
//	models:
//	  - {id: meta-llama/Llama-3.1-8B-Instruct, revision: 0e9e39f}
//	engines:
//	  - name: vllm
//	    version: 0.6.3
//	    launch: vllm serve {model} --revision {revision} --port {port}
//	  - {name: tgi, endpoint: "http://10.0.0.5:8080", pool: a100}
//	datasets: [synthetic, {spec: random, input_len: 512, output_len: 128}]
//	load:
//	  - {rate: [1, 2, 4], requests: 200}
//	  - {concurrency: [8, 16], duration: 60s}
//	seeds: [42]
//	repeats: 1
//	slo_template: llm.standard
type Matrix struct {
	Batch       string            `yaml:"batch"`
	Pool        string            `yaml:"pool"`
	Labels      map[string]string `yaml:"labels"`
	MaxAttempts int               `yaml:"max_attempts"`

	Models   []matrixModel   `yaml:"models"`
	Engines  []matrixEngine  `yaml:"engines"`
	Datasets []matrixDataset `yaml:"datasets"`
	Load     []matrixLoad    `yaml:"load"`
	Seeds    []uint64        `yaml:"seeds"`
	Repeats  int             `yaml:"repeats"`

	API          string         `yaml:"api"`
	NoStream     bool           `yaml:"no_stream"`
	Extra        map[string]any `yaml:"extra"`
	SLOTemplate  string         `yaml:"slo_template"`
	SLO          string         `yaml:"slo"`
	Warmup       int            `yaml:"warmup"`
	Cooldown     int            `yaml:"cooldown"`
	Timeout      string         `yaml:"timeout"`
	SuiteID      string         `yaml:"suite_id"`
	SuiteVersion string         `yaml:"suite_version"`

	root *yaml.Node // for the line numbers of semantic errors
}

type matrixModel struct {
	ID       string `yaml:"id"`
	Revision string `yaml:"revision"`
}

type matrixEngine struct {
	Name         string            `yaml:"name"`
	Version      string            `yaml:"version"`
	Launch       string            `yaml:"launch"`
	Endpoint     string            `yaml:"endpoint"`
	Env          map[string]string `yaml:"env"`
	ReadyTimeout string            `yaml:"ready_timeout"`
	Quantization string            `yaml:"quantization"`
	Pool         string            `yaml:"pool"`   // overrides the batch's
	Labels       map[string]string `yaml:"labels"` // added to the batch's
}

// matrixDataset is "synthetic", "random" or "sharegpt:PATH", or a mapping
// with lengths.
type matrixDataset struct {
	Spec        string  `yaml:"spec"`
	InputLen    int     `yaml:"input_len"`
	OutputLen   int     `yaml:"output_len"`
	InputRange  float64 `yaml:"input_len_range"`
	OutputRange float64 `yaml:"output_len_range"`
	IgnoreEOS   bool    `yaml:"ignore_eos"`
}

func (d *matrixDataset) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		d.Spec = n.Value
		return nil
	}
	type plain matrixDataset
	return strictDecode(n, (*plain)(d))
}

// matrixLoad is a load group: rates or concurrencies (a number or a list),
// the same bounds for each.
type matrixLoad struct {
	Rate           numbers `yaml:"rate"`
	Concurrency    numbers `yaml:"concurrency"`
	MaxConcurrency int     `yaml:"max_concurrency"`
	Arrival        string  `yaml:"arrival"`
	Burstiness     float64 `yaml:"burstiness"`
	Requests       int     `yaml:"requests"`
	Duration       string  `yaml:"duration"`
}

// numbers is a number or a list of numbers.
type numbers []float64

func (ns *numbers) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var f float64
		if err := n.Decode(&f); err != nil {
			return err
		}
		*ns = numbers{f}
		return nil
	}
	var list []float64
	if err := n.Decode(&list); err != nil {
		return err
	}
	*ns = list
	return nil
}

// strictDecode decodes n into v refusing unknown fields (yaml.Node.Decode
// alone accepts them).
func strictDecode(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		// Line numbers in this error count from the node, not the file.
		return fmt.Errorf("%s (in the mapping at line %d)", strings.TrimPrefix(err.Error(), "yaml: "), n.Line)
	}
	return nil
}

// MatrixError is a problem in a matrix file, located.
type MatrixError struct {
	File  string
	Line  int    // 0 when unknown
	Field string // the path of the field, e.g. engines[1].launch
	Msg   string
}

func (e *MatrixError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// MatrixErrors is every problem found in a matrix file.
type MatrixErrors []*MatrixError

func (es MatrixErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

var (
	yamlLine     = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
)

// ParseMatrix reads a matrix file (name is for messages) and checks it:
// unknown fields, wrong types, missing lists, engines with neither launch
// nor endpoint, impossible load points, unknown SLO templates. Errors name
// the line and the field.
func ParseMatrix(name string, data []byte) (*Matrix, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErrors(name, err)
	}
	if len(root.Content) == 0 {
		return nil, MatrixErrors{{File: name, Msg: "the file is empty"}}
	}
	m := &Matrix{root: root.Content[0]}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(m); err != nil {
		return nil, yamlErrors(name, err)
	}
	m.root = root.Content[0]
	if errs := m.check(name); len(errs) > 0 {
		return nil, errs
	}
	return m, nil
}

// yamlErrors turns the YAML library's errors ("yaml: unmarshal errors:\n
// line 5: field modle not found in type ...") into located MatrixErrors.
func yamlErrors(name string, err error) error {
	var te *yaml.TypeError
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var out MatrixErrors
	for _, msg := range msgs {
		e := &MatrixError{File: name, Msg: msg}
		if sm := yamlLine.FindStringSubmatch(msg); sm != nil {
			e.Line, _ = strconv.Atoi(sm[1])
			e.Msg = sm[2]
		}
		if sm := unknownField.FindStringSubmatch(e.Msg); sm != nil {
			e.Field, e.Msg = sm[1], "unknown field (a typo?)"
		}
		out = append(out, e)
	}
	return out
}

// lineOf finds the line of a field by its path (mapping keys and sequence
// indexes) in the parsed document; 0 when it is absent.
func (m *Matrix) lineOf(path ...any) int {
	n := m.root
	line := 0
	for _, p := range path {
		if n == nil {
			return line
		}
		line = n.Line
		switch k := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					next = n.Content[i+1]
					line = n.Content[i].Line
				}
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return line
			}
			n = n.Content[k]
			line = n.Line
		}
	}
	if n != nil {
		return n.Line
	}
	return line
}

func (m *Matrix) check(file string) MatrixErrors {
	var errs MatrixErrors
	add := func(msg string, path ...any) {
		var field strings.Builder
		for i, p := range path {
			switch v := p.(type) {
			case string:
				if i > 0 {
					field.WriteByte('.')
				}
				field.WriteString(v)
			case int:
				fmt.Fprintf(&field, "[%d]", v)
			}
		}
		errs = append(errs, &MatrixError{File: file, Line: m.lineOf(path...), Field: field.String(), Msg: msg})
	}
	if m.Batch == "" {
		add("required: name the batch (it keeps resubmissions of the same file idempotent)", "batch")
	} else if !batchRE.MatchString(m.Batch) {
		add("letters, digits, '-', '_' and '.' only (at most 128)", "batch")
	}
	if len(m.Models) == 0 {
		add("required: at least one model", "models")
	}
	for i, mo := range m.Models {
		if mo.ID == "" {
			add("required", "models", i, "id")
		}
	}
	if len(m.Engines) == 0 {
		add("required: at least one engine (launch: a command, or endpoint: a URL)", "engines")
	}
	for i, e := range m.Engines {
		if e.Name == "" {
			add("required (vllm, sglang, tgi, llama.cpp, ...)", "engines", i, "name")
		}
		switch {
		case e.Launch == "" && e.Endpoint == "":
			add("give launch (a command with {port}) or endpoint (a URL)", "engines", i)
		case e.Launch != "" && e.Endpoint != "":
			add("give launch or endpoint, not both", "engines", i)
		case e.Launch != "" && !strings.Contains(e.Launch, "{port}"):
			add("the command must listen on {port}, which the runner fills in", "engines", i, "launch")
		case e.Endpoint != "":
			if u, err := url.Parse(e.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(fmt.Sprintf("%q is not an http(s) URL", e.Endpoint), "engines", i, "endpoint")
			}
		}
		if e.ReadyTimeout != "" {
			if d, err := time.ParseDuration(e.ReadyTimeout); err != nil || d <= 0 {
				add(fmt.Sprintf("%q is not a duration such as 10m", e.ReadyTimeout), "engines", i, "ready_timeout")
			}
		}
		pool := e.Pool
		if pool == "" {
			pool = m.Pool
		}
		if pool == "" {
			add("no pool: give pool at the top (or on the engine)", "engines", i)
		} else if !ValidPool(pool) {
			add(fmt.Sprintf("pool %q: letters, digits, '-' and '_' only (at most 64)", pool), "engines", i, "pool")
		}
	}
	if m.Pool != "" && !ValidPool(m.Pool) {
		add("letters, digits, '-' and '_' only (at most 64)", "pool")
	}
	for i, d := range m.Datasets {
		kind, path, _ := strings.Cut(d.Spec, ":")
		switch {
		case kind == "synthetic" || kind == "random":
		case kind == "sharegpt" && path != "":
		case kind == "sharegpt":
			add("sharegpt:PATH needs the path of the ShareGPT file on the runners", "datasets", i)
		default:
			add(fmt.Sprintf("%q: want synthetic, random or sharegpt:PATH", d.Spec), "datasets", i)
		}
	}
	if len(m.Load) == 0 {
		add("required: at least one load group (rate: or concurrency:, with requests: or duration:)", "load")
	}
	for i, l := range m.Load {
		if _, err := l.points(); err != nil {
			add(err.Error(), "load", i)
		}
	}
	if m.Repeats < 0 {
		add("must be 1 or more", "repeats")
	}
	if m.MaxAttempts < 0 {
		add("must be 1 or more", "max_attempts")
	}
	if m.API != "" && m.API != "chat" && m.API != "completions" {
		add(fmt.Sprintf("%q: want chat or completions", m.API), "api")
	}
	if m.SLOTemplate != "" && m.SLOTemplate != "none" {
		if _, ok := metrics.Templates[m.SLOTemplate]; !ok {
			add(fmt.Sprintf("unknown template %q (llm.standard, llm.relaxed, none)", m.SLOTemplate), "slo_template")
		}
	}
	if m.SLO != "" {
		if _, err := metrics.ParseSLO(m.SLO); err != nil {
			add(err.Error(), "slo")
		}
	}
	if m.Timeout != "" {
		if _, err := time.ParseDuration(m.Timeout); err != nil {
			add(fmt.Sprintf("%q is not a duration", m.Timeout), "timeout")
		}
	}
	return errs
}

// Pool names are NATS subject tokens (no dots); batch names may have dots.
var (
	poolRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	batchRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
)

// ValidPool reports whether s can name a pool.
func ValidPool(s string) bool { return poolRE.MatchString(s) }

// points expands a load group into its points, checked.
func (l *matrixLoad) points() ([]PointSpec, error) {
	if (len(l.Rate) == 0) == (len(l.Concurrency) == 0) {
		return nil, errors.New("give rate (open loop) or concurrency (closed loop), not both; cap an open loop with max_concurrency")
	}
	if l.Requests <= 0 && l.Duration == "" {
		return nil, errors.New("give a bound: requests, duration, or both")
	}
	var dur time.Duration
	if l.Duration != "" {
		d, err := time.ParseDuration(l.Duration)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("duration %q: want a duration such as 60s", l.Duration)
		}
		dur = d
	}
	base := PointSpec{Arrival: l.Arrival, Burstiness: l.Burstiness, Requests: l.Requests, Duration: l.Duration}
	var out []PointSpec
	for _, r := range l.Rate {
		p := base
		p.Rate, p.Concurrency = r, l.MaxConcurrency
		out = append(out, p)
	}
	for _, c := range l.Concurrency {
		if c != math.Trunc(c) {
			return nil, fmt.Errorf("concurrency %v: want whole numbers", c)
		}
		p := base
		p.Concurrency = int(c)
		out = append(out, p)
	}
	for _, p := range out {
		spec := load.Spec{Rate: p.Rate, Concurrency: p.Concurrency, Arrival: load.Arrival(p.Arrival),
			Burstiness: p.Burstiness, Requests: p.Requests, Duration: dur}
		if err := spec.Validate(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Expand returns the matrix's jobs, in a stable order, with their ids.
func (m *Matrix) Expand() ([]Job, error) {
	datasets := m.Datasets
	if len(datasets) == 0 {
		datasets = []matrixDataset{{Spec: "synthetic"}}
	}
	seeds := m.Seeds
	if len(seeds) == 0 {
		seeds = []uint64{42}
	}
	repeats := max(m.Repeats, 1)
	var jobs []Job
	seen := map[string]bool{}
	for _, mo := range m.Models {
		for _, e := range m.Engines {
			pool := e.Pool
			if pool == "" {
				pool = m.Pool
			}
			labels := map[string]string{}
			for k, v := range m.Labels {
				labels[k] = v
			}
			for k, v := range e.Labels {
				labels[k] = v
			}
			if len(labels) == 0 {
				labels = nil
			}
			for _, d := range datasets {
				for _, l := range m.Load {
					points, err := l.points()
					if err != nil {
						return nil, err
					}
					for _, seed := range seeds {
						for r := 1; r <= repeats; r++ {
							s := Spec{
								Batch: m.Batch, Pool: pool, Labels: labels,
								Model:   ModelSpec(mo),
								Engine:  EngineSpec{Name: e.Name, Version: e.Version, Launch: e.Launch, Endpoint: e.Endpoint, Env: e.Env, ReadyTimeout: e.ReadyTimeout, Quantization: e.Quantization},
								Dataset: DatasetSpec(d),
								Points:  points, Seed: seed, Repeat: r,
								API: m.API, NoStream: m.NoStream, Extra: m.Extra, SLOTemplate: m.SLOTemplate, SLO: m.SLO,
								Warmup: m.Warmup, Cooldown: m.Cooldown, Timeout: m.Timeout,
								SuiteID: m.SuiteID, SuiteVersion: m.SuiteVersion,
							}
							id, err := s.ID()
							if err != nil {
								return nil, err
							}
							if seen[id] {
								continue // the same job listed twice (e.g. a repeated model)
							}
							seen[id] = true
							jobs = append(jobs, Job{ID: id, Spec: s})
						}
					}
				}
			}
		}
	}
	return jobs, nil
}

// Job is a spec with its id.
type Job struct {
	ID   string
	Spec Spec
}

// Pools returns the pools a batch's jobs go to, sorted.
func Pools(jobs []Job) []string {
	set := map[string]bool{}
	for _, j := range jobs {
		set[j.Spec.Pool] = true
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
