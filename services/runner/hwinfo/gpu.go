package hwinfo

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/inferencebench/bench/pkg/envelope"
)

// nvidia fills gpus, driver, cuda and nccl from one NVML session. Without
// NVML they keep the reference's CPU-only values (no GPU, "" versions) and a
// single warning says why.
func (c *collector) nvidia(hw *envelope.HardwareFingerprint) {
	sess, err := openNVML(c.opts.NVML)
	if err != nil {
		c.warn("no NVIDIA GPU visible (%v): gpus is empty; driver, cuda and nccl are \"\"", err)
		return
	}
	defer func() {
		if err := sess.close(); err != nil {
			c.warn("%v (the fingerprint was read before it)", err)
		}
	}()

	hw.GPUs = c.gpus(sess)

	if v, ret := sess.driverVersion(); ret == nvml.SUCCESS && clean(v) != "" {
		hw.Driver = clean(v)
	} else {
		c.warn("NVIDIA driver version unreadable (NVML SystemGetDriverVersion: %s): driver is \"\"", retOrEmpty(ret))
	}
	if v, ret := sess.cudaDriverVersion(); ret == nvml.SUCCESS && v > 0 {
		hw.CUDA = formatCUDAVersion(v)
	} else {
		c.warn("CUDA driver version unreadable (NVML SystemGetCudaDriverVersion: %s): cuda is \"\"", retOrZero(ret))
	}

	switch {
	case len(hw.GPUs) == 0:
		// Already warned by gpus; nccl means nothing without a GPU.
	case c.opts.NCCL != "":
		hw.NCCL = clean(c.opts.NCCL)
	default:
		c.warn("NCCL version not given (the runner does not load NCCL; pass Options.NCCL): nccl is \"\"")
	}
}

// gpus lists the GPUs in NVML index order. The fingerprint hash sorts them by
// pci_id itself, so the order here only matters to readers (it is the CUDA
// device order with CUDA_DEVICE_ORDER=PCI_BUS_ID).
//
// A GPU whose name or PCI bus id cannot be read is left out with a warning:
// without its bus id it has no identity (the reference invents one; we do
// not). A missing serial or VBIOS version becomes "unknown", as in the
// reference (GeForce boards have no serial number in NVML).
func (c *collector) gpus(sess *nvmlSession) []envelope.GPU {
	gpus := []envelope.GPU{}
	n, ret := sess.deviceCount()
	if ret != nvml.SUCCESS {
		c.warn("NVML cannot count GPUs (DeviceGetCount: %s): gpus is empty", returnText(ret))
		return gpus
	}
	if n == 0 {
		c.warn("NVML sees no GPU: gpus is empty and nccl is \"\"")
		return gpus
	}
	for i := range n {
		d, ret := sess.device(i)
		if ret != nvml.SUCCESS {
			c.warn("GPU %d left out of gpus: no NVML handle (DeviceGetHandleByIndex: %s)", i, returnText(ret))
			continue
		}
		pciID, ret := busID(d)
		if ret != nvml.SUCCESS || pciID == "" {
			c.warn("GPU %d left out of gpus: PCI bus id unreadable (GetPciInfo: %s)", i, retOrEmpty(ret))
			continue
		}
		name, ret := d.GetName()
		if name = clean(name); ret != nvml.SUCCESS || name == "" {
			c.warn("GPU %d (%s) left out of gpus: model name unreadable (GetName: %s)", i, pciID, retOrEmpty(ret))
			continue
		}
		g := envelope.GPU{Model: name, PCIID: pciID}
		serial, ret := d.GetSerial()
		if g.Serial = clean(serial); ret != nvml.SUCCESS || g.Serial == "" {
			g.Serial = Unknown
			c.warn("GPU %d (%s): serial number unreadable (GetSerial: %s): serial is %q", i, pciID, retOrEmpty(ret), Unknown)
		}
		vbios, ret := d.GetVbiosVersion()
		if g.VBIOS = clean(vbios); ret != nvml.SUCCESS || g.VBIOS == "" {
			g.VBIOS = Unknown
			c.warn("GPU %d (%s): VBIOS version unreadable (GetVbiosVersion: %s): vbios is %q", i, pciID, retOrEmpty(ret), Unknown)
		}
		gpus = append(gpus, g)
	}
	return gpus
}

// busID returns the GPU's PCI bus id as NVML writes it ("00000000:41:00.0").
func busID(d nvml.Device) (string, nvml.Return) {
	pci, ret := d.GetPciInfo()
	if ret != nvml.SUCCESS {
		return "", ret
	}
	return clean(int8String(pci.BusId[:])), nvml.SUCCESS
}

// int8String converts a NUL-terminated C char array.
func int8String(cs []int8) string {
	b := make([]byte, 0, len(cs))
	for _, c := range cs {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// formatCUDAVersion turns NVML's 1000*major + 10*minor into "major.minor"
// (12060 → "12.6"), the reference's format.
func formatCUDAVersion(v int) string {
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

// retOrEmpty describes a failed string read: either an NVML error or a
// successful call that returned nothing.
func retOrEmpty(ret nvml.Return) string {
	if ret == nvml.SUCCESS {
		return "empty value"
	}
	return returnText(ret)
}

// retOrZero is retOrEmpty for numeric reads.
func retOrZero(ret nvml.Return) string {
	if ret == nvml.SUCCESS {
		return "zero value"
	}
	return returnText(ret)
}
