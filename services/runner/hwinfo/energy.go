package hwinfo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// DefaultSampleInterval is the power sampling period. NVML's power reading is
// itself a one-second average on Ampere and newer, so sampling faster than
// this adds cost without adding information.
const DefaultSampleInterval = 100 * time.Millisecond

// Envelope metric names the meter feeds (the reference's keys).
const (
	MetricEnergyJoulesTotal = "energy_joules_total"
	MetricPowerAvgW         = "power_avg_w"
	MetricPowerPeakW        = "power_peak_w"
)

// MeterOptions configures an EnergyMeter.
type MeterOptions struct {
	// NVML is the NVML library; nil means the system's (nvml.New).
	NVML nvml.Interface
	// Interval is the power sampling period; 0 means DefaultSampleInterval.
	Interval time.Duration
}

// Energy is what an EnergyMeter measured between Start and Stop (or the end
// of Start's context, whichever came first).
type Energy struct {
	// Measured is false when NVML was unusable or saw no GPU: nothing below
	// was measured, Warnings says why, and callers omit the energy and power
	// metrics (Metrics returns none).
	Measured bool

	// EnergyMeasured is true when every GPU's energy counter gave a valid
	// delta; TotalJoules is then their sum. A partial sum would understate
	// the energy, so it is never reported as the total.
	EnergyMeasured bool
	TotalJoules    float64

	// PowerMeasured is true when at least one sample read the power of every
	// GPU. AvgPowerW is the mean over those samples of the summed GPU power,
	// PeakPowerW the largest such sum.
	PowerMeasured bool
	AvgPowerW     float64
	PeakPowerW    float64
	// Samples is the number of samples that read every GPU's power.
	Samples int

	// Duration is the measurement window.
	Duration time.Duration
	// GPUs is the per-GPU breakdown, in NVML index order.
	GPUs []GPUEnergy
	// Warnings has one entry for every value that was not measured.
	Warnings []string
}

// GPUEnergy is one GPU's share of an Energy.
type GPUEnergy struct {
	Index          int
	PCIID          string
	EnergyMeasured bool    // Joules is valid
	Joules         float64 // energy counter delta
	PowerSamples   int     // successful power readings
	AvgPowerW      float64 // mean of those readings (valid if PowerSamples > 0)
	PeakPowerW     float64 // largest of those readings
}

// Metrics returns the envelope metrics that were measured: energy_joules_total,
// power_avg_w and power_peak_w, each only when measured. An unmeasured value is
// left out rather than written as 0, which would read as "no energy used".
func (e Energy) Metrics() map[string]float64 {
	m := map[string]float64{}
	if e.EnergyMeasured {
		m[MetricEnergyJoulesTotal] = e.TotalJoules
	}
	if e.PowerMeasured {
		m[MetricPowerAvgW] = e.AvgPowerW
		m[MetricPowerPeakW] = e.PeakPowerW
	}
	return m
}

// EnergyMeter measures the energy and power of every GPU over a window.
//
// Energy comes from NVML's total-energy counter (millijoules since the driver
// loaded; Volta and newer), read at Start and at Stop: it counts everything
// the GPU drew, however short the spikes. Power comes from NVML's power
// reading (milliwatts), sampled every Interval by a goroutine; it is what the
// average and peak are computed from.
//
// Call Stop once for every Start, even after Start's context has ended: Stop
// waits for the sampling goroutine and releases NVML.
type EnergyMeter struct {
	opts MeterOptions

	mu    sync.Mutex
	state meterState

	// Set by Start, then owned by the sampling goroutine until done closes.
	sess       *nvmlSession
	devs       []*meteredGPU
	incomplete bool // some GPU has no handle: no total can be complete
	warnings   []string
	stop       chan struct{}
	done       chan struct{}
	begin, end time.Time
	ctxEnded   bool
	samples    int
	sumW       float64
	peakW      float64
}

type meterState int

const (
	meterIdle meterState = iota
	meterRunning
	meterStopped
)

// meteredGPU is the running state of one GPU.
type meteredGPU struct {
	index            int
	pciID            string
	dev              nvml.Device
	startMJ, endMJ   uint64
	startRet, endRet nvml.Return
	powerOK          int
	powerFailed      int
	powerRet         nvml.Return // last failure
	sumW, peakW      float64
}

// NewEnergyMeter returns a meter; nothing is measured until Start.
func NewEnergyMeter(opts MeterOptions) *EnergyMeter {
	if opts.Interval <= 0 {
		opts.Interval = DefaultSampleInterval
	}
	return &EnergyMeter{opts: opts}
}

// Start reads every GPU's energy counter, takes the first power sample and
// starts sampling. Sampling ends at Stop or when ctx ends. Without NVML (or
// without a GPU) Start succeeds and Stop reports Measured false: a benchmark
// on a CPU-only host is still a benchmark. The error is non-nil only when the
// meter was already started.
func (m *EnergyMeter) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != meterIdle {
		return errors.New("hwinfo: EnergyMeter.Start: already started (a meter measures one window)")
	}
	m.state = meterRunning
	m.stop = make(chan struct{})
	m.done = make(chan struct{})

	sess, err := openNVML(m.opts.NVML)
	if err != nil {
		m.warn("GPU energy and power not measured (%v): %s, %s and %s are omitted", err, MetricEnergyJoulesTotal, MetricPowerAvgW, MetricPowerPeakW)
		close(m.done)
		return nil
	}
	n, ret := sess.deviceCount()
	if ret != nvml.SUCCESS || n == 0 {
		reason := "NVML sees no GPU"
		if ret != nvml.SUCCESS {
			reason = "DeviceGetCount: " + returnText(ret)
		}
		m.warn("GPU energy and power not measured (%s): %s, %s and %s are omitted", reason, MetricEnergyJoulesTotal, MetricPowerAvgW, MetricPowerPeakW)
		if err := sess.close(); err != nil {
			m.warn("%v", err)
		}
		close(m.done)
		return nil
	}
	m.sess = sess
	for i := range n {
		d, ret := sess.device(i)
		if ret != nvml.SUCCESS {
			m.incomplete = true
			m.warn("GPU %d not metered (DeviceGetHandleByIndex: %s): totals over all GPUs are omitted", i, returnText(ret))
			continue
		}
		pciID, _ := busID(d)
		m.devs = append(m.devs, &meteredGPU{index: i, pciID: pciID, dev: d})
	}
	m.begin = time.Now()
	for _, g := range m.devs {
		g.startMJ, g.startRet = g.dev.GetTotalEnergyConsumption()
	}
	m.sample()
	go m.loop(ctx)
	return nil
}

// loop samples power until Stop or ctx ends, then reads the end counters, so
// that energy and power cover the same window.
func (m *EnergyMeter) loop(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			m.finish()
			return
		case <-ctx.Done():
			m.ctxEnded = true
			m.finish()
			return
		case <-t.C:
			m.sample()
		}
	}
}

// sample reads every GPU's power once. A sample counts towards the totals
// only if every GPU was read: a sum with a GPU missing is not the machine's
// power.
func (m *EnergyMeter) sample() {
	total, complete := 0.0, true
	for _, g := range m.devs {
		mw, ret := g.dev.GetPowerUsage()
		if ret != nvml.SUCCESS {
			g.powerFailed++
			g.powerRet = ret
			complete = false
			continue
		}
		w := float64(mw) / 1000
		g.powerOK++
		g.sumW += w
		g.peakW = max(g.peakW, w)
		total += w
	}
	if complete && !m.incomplete {
		m.samples++
		m.sumW += total
		m.peakW = max(m.peakW, total)
	}
}

// finish reads the end counters and closes the window.
func (m *EnergyMeter) finish() {
	for _, g := range m.devs {
		g.endMJ, g.endRet = g.dev.GetTotalEnergyConsumption()
	}
	m.end = time.Now()
}

// Stop ends the window (if ctx has not already), releases NVML and returns
// the measurement. The error is non-nil only when the meter was not started
// or was already stopped.
func (m *EnergyMeter) Stop() (Energy, error) {
	m.mu.Lock()
	switch m.state {
	case meterIdle:
		m.mu.Unlock()
		return Energy{}, errors.New("hwinfo: EnergyMeter.Stop: not started")
	case meterStopped:
		m.mu.Unlock()
		return Energy{}, errors.New("hwinfo: EnergyMeter.Stop: already stopped")
	}
	m.state = meterStopped
	m.mu.Unlock()

	close(m.stop)
	<-m.done
	if m.sess == nil {
		return Energy{Warnings: m.warnings}, nil
	}
	if err := m.sess.close(); err != nil {
		m.warn("%v (after the measurement)", err)
	}
	return m.result(), nil
}

// result turns the raw readings into an Energy.
func (m *EnergyMeter) result() Energy {
	e := Energy{Measured: true, Duration: m.end.Sub(m.begin), Samples: m.samples}
	if m.ctxEnded {
		m.warn("the context ended before Stop: energy and power cover Start to the cancellation (%s)", e.Duration.Round(time.Millisecond))
	}
	allEnergy := !m.incomplete
	var total float64
	for _, g := range m.devs {
		ge := GPUEnergy{Index: g.index, PCIID: g.pciID, PowerSamples: g.powerOK}
		name := fmt.Sprintf("GPU %d (%s)", g.index, g.pciID)
		switch {
		case g.startRet != nvml.SUCCESS:
			m.warn("%s: energy counter unreadable at start (GetTotalEnergyConsumption: %s; it needs Volta or newer): its energy is not measured", name, returnText(g.startRet))
		case g.endRet != nvml.SUCCESS:
			m.warn("%s: energy counter unreadable at stop (GetTotalEnergyConsumption: %s): its energy is not measured", name, returnText(g.endRet))
		case g.endMJ < g.startMJ:
			m.warn("%s: energy counter went backwards (%d mJ at start, %d mJ at stop: the counter was reset, e.g. by a driver reload): its energy is not measured", name, g.startMJ, g.endMJ)
		default:
			ge.EnergyMeasured = true
			ge.Joules = float64(g.endMJ-g.startMJ) / 1000
			total += ge.Joules
		}
		allEnergy = allEnergy && ge.EnergyMeasured
		if g.powerOK > 0 {
			ge.AvgPowerW = g.sumW / float64(g.powerOK)
			ge.PeakPowerW = g.peakW
		}
		if g.powerFailed > 0 {
			m.warn("%s: %d of %d power readings failed (GetPowerUsage: %s): samples without it are left out of %s and %s", name, g.powerFailed, g.powerFailed+g.powerOK, returnText(g.powerRet), MetricPowerAvgW, MetricPowerPeakW)
		}
		e.GPUs = append(e.GPUs, ge)
	}
	if allEnergy {
		e.EnergyMeasured, e.TotalJoules = true, total
	} else {
		m.warn("%s omitted: not every GPU's energy was measured, and the sum of the others would understate it", MetricEnergyJoulesTotal)
	}
	if m.samples > 0 {
		e.PowerMeasured = true
		e.AvgPowerW = m.sumW / float64(m.samples)
		e.PeakPowerW = m.peakW
	} else {
		m.warn("%s and %s omitted: no sample read the power of every GPU", MetricPowerAvgW, MetricPowerPeakW)
	}
	e.Warnings = m.warnings
	return e
}

func (m *EnergyMeter) warn(format string, args ...any) {
	m.warnings = append(m.warnings, fmt.Sprintf(format, args...))
}
