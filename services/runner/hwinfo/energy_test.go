package hwinfo

import (
	"context"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
)

// counter returns start on the first call and end afterwards: the energy
// counter read at Start and at Stop.
func counter(start, end uint64) func(int) (uint64, nvml.Return) {
	return func(call int) (uint64, nvml.Return) {
		if call == 1 {
			return start, nvml.SUCCESS
		}
		return end, nvml.SUCCESS
	}
}

// constantPower always reads mw.
func constantPower(mw uint32) func(int) (uint32, nvml.Return) {
	return func(int) (uint32, nvml.Return) { return mw, nvml.SUCCESS }
}

// waitForSamples polls until the mock has served n power readings of device
// 0, so that a test's Stop comes after several samples.
func waitForSamples(t *testing.T, lib *mock.Interface, n int) {
	t.Helper()
	d, _ := lib.DeviceGetHandleByIndex(0)
	deadline := time.Now().Add(5 * time.Second)
	for len(d.(*mock.Device).GetPowerUsageCalls()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d power samples after 5 s", n)
		}
		time.Sleep(time.Millisecond)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestEnergyMeterTwoGPUs(t *testing.T) {
	gpus := []fakeGPU{
		{name: "A", busID: "00000000:C1:00.0",
			energyMJ: counter(1_000_000, 1_500_500),
			// 100 W on the first (synchronous) sample, 300 W afterwards.
			powerMW: func(call int) (uint32, nvml.Return) {
				if call == 1 {
					return 100_000, nvml.SUCCESS
				}
				return 300_000, nvml.SUCCESS
			}},
		{name: "B", busID: "00000000:41:00.0", energyMJ: counter(2_000_000, 2_250_000), powerMW: constantPower(200_000)},
	}
	lib := newMockNVML(gpus)
	m := NewEnergyMeter(MeterOptions{NVML: lib, Interval: time.Millisecond})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitForSamples(t, lib, 4)
	e, err := m.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if !e.Measured || !e.EnergyMeasured || !e.PowerMeasured {
		t.Fatalf("not measured: %+v", e)
	}
	if !near(e.TotalJoules, 750.5) {
		t.Errorf("total = %v J, want 500.5 + 250", e.TotalJoules)
	}
	if !near(e.GPUs[0].Joules, 500.5) || !near(e.GPUs[1].Joules, 250) || e.GPUs[0].PCIID != "00000000:C1:00.0" {
		t.Errorf("per GPU = %+v", e.GPUs)
	}
	k := float64(e.Samples)
	if e.Samples < 4 {
		t.Fatalf("samples = %d, want >= 4", e.Samples)
	}
	// Summed power: 300 W on the first sample, 500 W on the others.
	if want := (300 + 500*(k-1)) / k; !near(e.AvgPowerW, want) || !near(e.PeakPowerW, 500) {
		t.Errorf("avg %v W peak %v W over %d samples, want avg %v peak 500", e.AvgPowerW, e.PeakPowerW, e.Samples, want)
	}
	if !near(e.GPUs[1].AvgPowerW, 200) || !near(e.GPUs[0].PeakPowerW, 300) || e.GPUs[1].PowerSamples != e.Samples {
		t.Errorf("per GPU power = %+v", e.GPUs)
	}
	if e.Duration <= 0 {
		t.Errorf("duration = %v", e.Duration)
	}
	if len(e.Warnings) != 0 {
		t.Errorf("warnings: %q", e.Warnings)
	}
	metrics := e.Metrics()
	if len(metrics) != 3 || !near(metrics[MetricEnergyJoulesTotal], 750.5) || metrics[MetricPowerPeakW] != 500 {
		t.Errorf("metrics = %v", metrics)
	}
	if n := len(lib.ShutdownCalls()); n != 1 {
		t.Errorf("Shutdown called %d times", n)
	}
	// The window closed at Stop: no reading after it.
	d, _ := lib.DeviceGetHandleByIndex(1)
	before := len(d.(*mock.Device).GetPowerUsageCalls())
	time.Sleep(10 * time.Millisecond)
	if after := len(d.(*mock.Device).GetPowerUsageCalls()); after != before {
		t.Errorf("power read %d times after Stop", after-before)
	}
}

// TestEnergyMeterCounterReset: a counter that goes backwards makes that GPU's
// energy, and so the total, unavailable with a warning: never negative, never
// the other GPU's energy alone.
func TestEnergyMeterCounterReset(t *testing.T) {
	lib := newMockNVML([]fakeGPU{
		{name: "A", busID: "00000000:01:00.0", energyMJ: counter(5_000, 9_000), powerMW: constantPower(50_000)},
		{name: "B", busID: "00000000:02:00.0", energyMJ: counter(900_000_000, 1_234), powerMW: constantPower(70_000)},
	})
	m := NewEnergyMeter(MeterOptions{NVML: lib, Interval: time.Millisecond})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e, err := m.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if !e.Measured || e.EnergyMeasured || e.TotalJoules != 0 {
		t.Errorf("total reported despite a reset: %+v", e)
	}
	if !e.GPUs[0].EnergyMeasured || !near(e.GPUs[0].Joules, 4) {
		t.Errorf("GPU 0 = %+v, want 4 J", e.GPUs[0])
	}
	if e.GPUs[1].EnergyMeasured || e.GPUs[1].Joules != 0 {
		t.Errorf("GPU 1 = %+v, want unavailable", e.GPUs[1])
	}
	requireWarning(t, e.Warnings, "GPU 1 (00000000:02:00.0)", "went backwards", "900000000 mJ at start, 1234 mJ at stop", "not measured")
	requireWarning(t, e.Warnings, "energy_joules_total omitted")
	metrics := e.Metrics()
	if _, ok := metrics[MetricEnergyJoulesTotal]; ok {
		t.Errorf("metrics carry energy after a reset: %v", metrics)
	}
	if !e.PowerMeasured || !near(metrics[MetricPowerAvgW], 120) {
		t.Errorf("power should still be measured: %v", metrics)
	}
}

// TestEnergyMeterUnsupported: pre-Volta GPUs have no energy counter, and a GPU
// whose power reading fails makes the summed power unavailable.
func TestEnergyMeterUnsupported(t *testing.T) {
	lib := newMockNVML([]fakeGPU{
		{name: "old", busID: "00000000:01:00.0", powerMW: constantPower(10_000)},
		{name: "broken", busID: "00000000:02:00.0", energyMJ: counter(1, 2)},
	})
	// One sample only (the one Start takes), whatever the scheduler does.
	m := NewEnergyMeter(MeterOptions{NVML: lib, Interval: time.Hour})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e, err := m.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if !e.Measured || e.EnergyMeasured || e.PowerMeasured || len(e.Metrics()) != 0 {
		t.Errorf("energy = %+v", e)
	}
	if !e.GPUs[1].EnergyMeasured || e.GPUs[0].PowerSamples != 1 || !near(e.GPUs[0].AvgPowerW, 10) {
		t.Errorf("per GPU = %+v", e.GPUs)
	}
	requireWarning(t, e.Warnings, "GPU 0", "energy counter unreadable at start", "Volta")
	requireWarning(t, e.Warnings, "GPU 1", "1 of 1 power readings failed", "not supported")
	requireWarning(t, e.Warnings, "power_avg_w and power_peak_w omitted")
}

func TestEnergyMeterNoGPU(t *testing.T) {
	lib := newMockNVML(nil)
	m := NewEnergyMeter(MeterOptions{NVML: lib})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e, err := m.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if e.Measured || len(e.Metrics()) != 0 {
		t.Errorf("energy = %+v", e)
	}
	requireWarning(t, e.Warnings, "not measured (NVML sees no GPU)")
	if len(lib.ShutdownCalls()) != 1 {
		t.Errorf("Shutdown calls = %d", len(lib.ShutdownCalls()))
	}
}

// TestEnergyMeterThisMachine uses the real NVML: without a GPU it must
// report "not measured" and not crash.
func TestEnergyMeterThisMachine(t *testing.T) {
	m := NewEnergyMeter(MeterOptions{})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	e, err := m.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured %v: %v, warnings %q", e.Measured, e.Metrics(), e.Warnings)
	if !e.Measured && len(e.Warnings) == 0 {
		t.Error("not measured, and no warning says why")
	}
}

func TestEnergyMeterMisuse(t *testing.T) {
	m := NewEnergyMeter(MeterOptions{NVML: newMockNVML(nil)})
	if _, err := m.Stop(); err == nil {
		t.Error("Stop before Start succeeded")
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	if _, err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stop(); err == nil {
		t.Error("second Stop succeeded")
	}
}

// TestEnergyMeterGoroutineEnds: the sampling goroutine ends at Stop and, when
// the context ends first, at the context's end (then Stop still works and
// says the window was cut short). No goroutine is left behind.
func TestEnergyMeterGoroutineEnds(t *testing.T) {
	newLib := func() *mock.Interface {
		return newMockNVML([]fakeGPU{{name: "A", busID: "00000000:01:00.0", energyMJ: counter(0, 1000), powerMW: constantPower(1000)}})
	}
	base := runtime.NumGoroutine()

	t.Run("stop", func(t *testing.T) {
		m := NewEnergyMeter(MeterOptions{NVML: newLib(), Interval: time.Millisecond})
		if err := m.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Stop(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-m.done:
		default:
			t.Fatal("sampling goroutine still running after Stop")
		}
	})

	t.Run("context", func(t *testing.T) {
		lib := newLib()
		ctx, cancel := context.WithCancel(context.Background())
		m := NewEnergyMeter(MeterOptions{NVML: lib, Interval: time.Millisecond})
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitForSamples(t, lib, 3)
		cancel()
		select {
		case <-m.done:
		case <-time.After(5 * time.Second):
			t.Fatal("sampling goroutine still running 5 s after the context ended")
		}
		e, err := m.Stop()
		if err != nil {
			t.Fatal(err)
		}
		if !e.EnergyMeasured || !near(e.TotalJoules, 1) {
			t.Errorf("energy = %+v", e)
		}
		requireWarning(t, e.Warnings, "context ended before Stop")
	})

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}
