//go:build !unix

package embeddedkafka

import "os"

// lockDir opens path without locking it: on this platform two brokers can
// share a DataDir and corrupt it, so do not start two.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
}

// unlockDir closes the file opened by lockDir.
func unlockDir(f *os.File) error { return f.Close() }
