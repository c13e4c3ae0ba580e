package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/pushpipe/pushpipe/console"
	"github.com/pushpipe/pushpipe/internal/config"
)

func TestConsoleHashPassword(t *testing.T) {
	for _, tc := range []struct {
		name, stdin, password, wantErr string
	}{
		{"a line", "correct horse battery\n", "correct horse battery", ""},
		{"a CRLF line", "correct horse battery\r\n", "correct horse battery", ""},
		{"no line break", "correct horse battery", "correct horse battery", ""},
		{"only the first line", "first-password\nsecond\n", "first-password", ""},
		{"too short", "short\n", "", "at least 8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRoot()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&bytes.Buffer{})
			root.SetIn(strings.NewReader(tc.stdin))
			root.SetArgs([]string{"console", "hash-password"})
			err := root.Execute()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h := strings.TrimSpace(out.String())
			if bcrypt.CompareHashAndPassword([]byte(h), []byte(tc.password)) != nil || strings.Contains(out.String(), tc.password) {
				t.Fatalf("printed %q, not the hash of %q alone", out.String(), tc.password)
			}
		})
	}
}

func TestConsoleCommandNeedsRegionAndAccounts(t *testing.T) {
	wantCommandError(t, []string{"console"}, `required flag(s) "region" not set`)
	wantCommandError(t, []string{"console", "--region", "us"}, `--region "us"`)
	wantCommandError(t, []string{"console", "--region", "sg"}, "console.accounts is empty")
}

// TestDevDemoAdmin: pushpipe dev makes the console's demo admin once, with
// a generated password kept (mode 0600) in the state directory, and
// configures the same login on the next start; configured accounts are
// left alone.
func TestDevDemoAdmin(t *testing.T) {
	dir := t.TempDir()
	var first, second devConsoles
	c1, c2 := defaultConfig(t, dir), defaultConfig(t, dir)
	if err := first.addDemoAdmin(c1); err != nil {
		t.Fatal(err)
	}
	if err := second.addDemoAdmin(c2); err != nil {
		t.Fatal(err)
	}
	if first.login == nil || second.login == nil || *first.login != *second.login || len(first.login.Password) != 20 {
		t.Fatalf("logins %+v and %+v: want the same generated one", first.login, second.login)
	}
	if fi, err := os.Stat(filepath.Join(dir, demoLoginFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("demo login file: %v, %v", fi, err)
	}
	if err := c2.Validate(); err != nil {
		t.Fatal(err)
	}
	as := c2.ConsoleAccounts()
	if len(as) != 1 || as[0].Role != console.RoleAdmin || !as[0].MaySee(config.DefaultDemoAppID) ||
		bcrypt.CompareHashAndPassword([]byte(as[0].PasswordHash.Reveal()), []byte(first.login.Password)) != nil {
		t.Fatalf("accounts %+v", as)
	}
	var third devConsoles
	c3 := defaultConfig(t, t.TempDir())
	c3.Console.Accounts = []config.ConsoleAccount{{Name: "olga"}}
	if err := third.addDemoAdmin(c3); err != nil || third.login != nil || len(c3.Console.Accounts) != 1 {
		t.Fatalf("configured accounts were changed: %+v, %v", c3.Console.Accounts, err)
	}
}
