package hwinfo

import (
	"errors"
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// This file is the only place that decides whether NVML may be used.
//
// go-nvml loads libnvidia-ml lazily inside Init. When the library is missing,
// Init returns ERROR_LIBRARY_NOT_FOUND, but any other NVML function called
// afterwards jumps to an unresolved symbol and kills the process (a dynamic
// linker error, not a Go panic, so recover cannot help). The rule is therefore
// structural: the nvml.Interface handed in by the caller is read only by
// openNVML, and every other NVML call in this package goes through an
// *nvmlSession, which exists only after Init returned SUCCESS. Code that holds
// no session has no way to reach NVML, and a failed Init yields no session.

// errNVMLUnavailable is wrapped by openNVML's error when Init failed.
var errNVMLUnavailable = errors.New("NVML unavailable")

// nvmlSession is proof that nvml.Init succeeded. Its zero value is never
// used: openNVML is the only constructor.
type nvmlSession struct {
	lib    nvml.Interface
	closed bool
}

// openNVML initialises NVML and returns a session, or an error wrapping
// errNVMLUnavailable and saying why. After a failed Init nothing else is
// called on lib, not even Shutdown or ErrorString (the Return is described by
// returnText, which is plain Go).
//
// lib nil means the system library (libnvidia-ml.so.1 via nvml.New).
func openNVML(lib nvml.Interface) (*nvmlSession, error) {
	if lib == nil {
		lib = nvml.New()
	}
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("%w: Init: %s", errNVMLUnavailable, returnText(ret))
	}
	return &nvmlSession{lib: lib}, nil
}

// close shuts NVML down once. NVML reference-counts Init/Shutdown pairs, so
// sessions opened by Collect and by an EnergyMeter do not disturb each other.
func (s *nvmlSession) close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if ret := s.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("NVML Shutdown: %s", returnText(ret))
	}
	return nil
}

// deviceCount returns the number of GPUs NVML sees.
func (s *nvmlSession) deviceCount() (int, nvml.Return) { return s.lib.DeviceGetCount() }

// device returns the handle of GPU i. Handles are only obtainable from a
// session, so calls on them are gated too.
func (s *nvmlSession) device(i int) (nvml.Device, nvml.Return) {
	return s.lib.DeviceGetHandleByIndex(i)
}

// driverVersion returns the kernel driver version, e.g. "595.58.03".
func (s *nvmlSession) driverVersion() (string, nvml.Return) { return s.lib.SystemGetDriverVersion() }

// cudaDriverVersion returns the CUDA version the driver supports as NVML
// encodes it: 1000*major + 10*minor (12060 is 12.6).
func (s *nvmlSession) cudaDriverVersion() (int, nvml.Return) {
	return s.lib.SystemGetCudaDriverVersion()
}

// returnText names an NVML return code without calling into NVML:
// Return.Error and ErrorString use nvmlErrorString once the library is
// loaded, and this package calls nothing in NVML outside a session.
func returnText(r nvml.Return) string {
	switch r {
	case nvml.SUCCESS:
		return "success"
	case nvml.ERROR_UNINITIALIZED:
		return "not initialised"
	case nvml.ERROR_INVALID_ARGUMENT:
		return "invalid argument"
	case nvml.ERROR_NOT_SUPPORTED:
		return "not supported by this GPU"
	case nvml.ERROR_NO_PERMISSION:
		return "no permission"
	case nvml.ERROR_NOT_FOUND:
		return "not found"
	case nvml.ERROR_INSUFFICIENT_SIZE:
		return "insufficient buffer size"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return "driver not loaded"
	case nvml.ERROR_TIMEOUT:
		return "timeout"
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return "library not found"
	case nvml.ERROR_FUNCTION_NOT_FOUND:
		return "function not found (driver too old)"
	case nvml.ERROR_CORRUPTED_INFOROM:
		return "corrupted infoROM"
	case nvml.ERROR_GPU_IS_LOST:
		return "GPU is lost"
	case nvml.ERROR_RESET_REQUIRED:
		return "GPU reset required"
	case nvml.ERROR_OPERATING_SYSTEM:
		return "operating system error"
	case nvml.ERROR_LIB_RM_VERSION_MISMATCH:
		return "library and driver versions differ"
	case nvml.ERROR_NO_DATA:
		return "no data"
	case nvml.ERROR_UNKNOWN:
		return "unknown error"
	default:
		return fmt.Sprintf("NVML return code %d", int32(r))
	}
}
