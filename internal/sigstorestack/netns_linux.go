package sigstorestack

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"unsafe"
)

// loopbackUp brings the loopback interface up, which a fresh network
// namespace leaves down (127.0.0.1 then has no route). It does what
// `ip link set lo up` does, without needing iproute2: SIOCGIFFLAGS, set
// IFF_UP, SIOCSIFFLAGS. The namespace's root (real root, or the mapped root
// of `unshare --user --map-root-user`) holds CAP_NET_ADMIN there.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer syscall.Close(fd)
	// struct ifreq: 16 bytes of name, then a union whose first member here
	// is the short ifr_flags; 40 bytes in all on 64-bit Linux.
	var ifr [40]byte
	copy(ifr[:syscall.IFNAMSIZ-1], "lo")
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		return fmt.Errorf("SIOCGIFFLAGS lo: %w", errno)
	}
	flags := binary.NativeEndian.Uint16(ifr[16:18])
	if flags&syscall.IFF_UP != 0 {
		return nil
	}
	binary.NativeEndian.PutUint16(ifr[16:18], flags|syscall.IFF_UP)
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		return fmt.Errorf("SIOCSIFFLAGS lo: %w", errno)
	}
	return nil
}

// deathSignal is set on every child process (the re-executed test, the
// servers): if its parent dies, even by SIGKILL or a test timeout that
// runs no cleanup, the kernel kills it, so no server outlives its test.
func deathSignalAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
