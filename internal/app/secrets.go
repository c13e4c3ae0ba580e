package app

import (
	"errors"
	"io/fs"
	"os"
	"runtime"

	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/internal/config"
)

// WarnExposedSecrets logs a warning for each file holding a secret that
// the configuration names (cfg.SecretFiles: passwords, TLS client keys,
// the callback signing key) and that exists with a mode letting other
// users (neither its owner nor its group) read it, and for a state
// directory other users may list or enter, each with the chmod that fixes
// it. Read by the group is accepted, as Kubernetes mounts secrets
// group-readable when the pod sets fsGroup. Files that do not exist yet
// are skipped (the callbacks worker creates its key 0600). Call it once at
// start; it returns how many warnings it logged and changes nothing.
func WarnExposedSecrets(cfg *config.Config, log zerolog.Logger) int {
	if runtime.GOOS == "windows" {
		return 0
	}
	n := 0
	for _, f := range cfg.SecretFiles() {
		st, err := os.Stat(f.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			log.Warn().Err(err).Str("setting", f.Setting).Str("path", f.Path).Msg("cannot check who may read a secret file")
			n++
			continue
		}
		if st.Mode().Perm()&0o004 != 0 {
			log.Warn().Str("setting", f.Setting).Str("path", f.Path).Str("mode", st.Mode().Perm().String()).
				Msgf("secret file %s is readable by every user of this machine: chmod 600 %s", f.Path, f.Path)
			n++
		}
	}
	if st, err := os.Stat(cfg.StateDir); err == nil && st.IsDir() && st.Mode().Perm()&0o007 != 0 {
		log.Warn().Str("setting", "stateDir").Str("path", cfg.StateDir).Str("mode", st.Mode().Perm().String()).
			Msgf("state directory %s (Kafka and ClickHouse data, keys) is open to every user of this machine: chmod 700 %s", cfg.StateDir, cfg.StateDir)
		n++
	}
	return n
}
