//go:build unix

package audit

import (
	"os"
	"syscall"
)

// lock takes an exclusive advisory lock on f, waiting for other writers.
func lock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlock(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
