//go:build !unix

package audit

import (
	"errors"
	"os"
)

// lock is not implemented here: appends without a lock could fork the chain.
func lock(*os.File) error {
	return errors.New("file locking is not supported on this platform")
}

func unlock(*os.File) {}
