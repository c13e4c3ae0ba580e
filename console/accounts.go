package console

import (
	"crypto/rand"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Password lengths HashPassword accepts. bcrypt reads at most 72 bytes,
// so a longer password would be cut silently: it is refused instead.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
)

// HashPassword returns the bcrypt hash (cost bcrypt.DefaultCost) of
// password for Account.PasswordHash. A password shorter than
// MinPasswordBytes, longer than MaxPasswordBytes or not UTF-8 is an
// error saying so.
func HashPassword(password string) (string, error) {
	return hashPassword(password, bcrypt.DefaultCost)
}

func hashPassword(password string, cost int) (string, error) {
	switch {
	case len(password) < MinPasswordBytes:
		return "", fmt.Errorf("the password has %d bytes: use at least %d", len(password), MinPasswordBytes)
	case len(password) > MaxPasswordBytes:
		return "", fmt.Errorf("the password has %d bytes: bcrypt reads at most %d, use a shorter one", len(password), MaxPasswordBytes)
	case !utf8.ValidString(password):
		return "", errors.New("the password is not valid UTF-8")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hashing the password: %w", err)
	}
	return string(h), nil
}

// GeneratePassword returns a random password of 20 letters and digits
// (about 119 bits), for the demo account of `pushpipe dev`.
func GeneratePassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	return randomFrom(alphabet, 20)
}

// randomFrom returns n characters drawn uniformly from alphabet.
func randomFrom(alphabet string, n int) string {
	out := make([]byte, n)
	var b [1]byte
	for i := 0; i < n; {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		// Reject the bytes above the largest multiple of len(alphabet), so
		// that every character is equally likely.
		if int(b[0]) >= 256-256%len(alphabet) {
			continue
		}
		out[i] = alphabet[int(b[0])%len(alphabet)]
		i++
	}
	return string(out)
}

// accounts checks logins against the configured accounts. It is read-only
// after newAccounts and safe for concurrent use.
type accounts struct {
	byName map[string]*Account
	// dummy is a hash compared against when the name is unknown, so that
	// an unknown name takes as long as a wrong password.
	dummy []byte
}

func newAccounts(list []Account) (*accounts, error) {
	as := &accounts{byName: make(map[string]*Account, len(list))}
	cost := bcrypt.MinCost
	for i := range list {
		a := list[i]
		a.Apps = append([]string(nil), a.Apps...)
		as.byName[a.Name] = &a
		if c, err := bcrypt.Cost([]byte(a.PasswordHash.Reveal())); err == nil {
			cost = max(cost, c)
		}
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte(randomFrom("abcdefgh", 16)), cost)
	if err != nil {
		return nil, fmt.Errorf("console: preparing the login check: %w", err)
	}
	as.dummy = dummy
	return as, nil
}

// check returns the account of name when password is its password, else
// nil. Whether the name or the password was wrong is not told, and both
// take one bcrypt comparison.
func (as *accounts) check(name, password string) *Account {
	a, ok := as.byName[name]
	if !ok || len(password) > MaxPasswordBytes {
		_ = bcrypt.CompareHashAndPassword(as.dummy, []byte(password))
		return nil
	}
	if bcrypt.CompareHashAndPassword([]byte(a.PasswordHash.Reveal()), []byte(password)) != nil {
		return nil
	}
	return a
}

// get returns the account named name, or nil.
func (as *accounts) get(name string) *Account { return as.byName[name] }
