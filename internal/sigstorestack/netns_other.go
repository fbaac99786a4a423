//go:build !linux

package sigstorestack

import (
	"errors"
	"syscall"
)

func loopbackUp() error {
	return errors.New("network namespaces need Linux")
}

func deathSignalAttr() *syscall.SysProcAttr { return nil }
