package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// session is one login: its random id (the cookie's value), the account,
// the CSRF token every form of the session carries, and when it ends.
type session struct {
	id      string
	account string
	csrf    string
	expires time.Time
}

// sessions is the server-side session store, bounded in size. Safe for
// concurrent use.
type sessions struct {
	ttl time.Duration
	max int

	mu   sync.Mutex
	byID map[string]session
}

func newSessions(ttl time.Duration, maxSessions int) *sessions {
	return &sessions{ttl: ttl, max: maxSessions, byID: map[string]session{}}
}

// randomToken returns 32 random bytes as unpadded base64url text.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session of account at now. When the store is full it
// first drops the expired sessions and then, if still full, the session
// closest to its expiry.
func (s *sessions) create(account string, now time.Time) session {
	ss := session{id: randomToken(), account: account, csrf: randomToken(), expires: now.Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= s.max {
		var oldest string
		for id, o := range s.byID {
			if !now.Before(o.expires) {
				delete(s.byID, id)
				continue
			}
			if oldest == "" || o.expires.Before(s.byID[oldest].expires) {
				oldest = id
			}
		}
		if len(s.byID) >= s.max {
			delete(s.byID, oldest)
		}
	}
	s.byID[ss.id] = ss
	return ss
}

// get returns the session with id if it exists and has not expired at
// now; an expired one is dropped.
func (s *sessions) get(id string, now time.Time) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byID[id]
	if !ok {
		return session{}, false
	}
	if !now.Before(ss.expires) {
		delete(s.byID, id)
		return session{}, false
	}
	return ss, true
}

// end drops the session with id (logout); an unknown id is ignored.
func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

// len is how many sessions are kept (expired ones not yet dropped
// included).
func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// validCSRF reports whether the token a form carried is the session's.
func (ss session) validCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(ss.csrf)) == 1
}

// loginTokens protect the login form, which has no session yet: the
// login page sets a cookie holding a random nonce, and its form carries
// the HMAC of that nonce under a key of this server, so a page of another
// site can neither read nor forge the pair. Nothing is stored per
// visitor.
type loginTokens struct{ key []byte }

func newLoginTokens() loginTokens {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	return loginTokens{key: key}
}

// token is the form token of nonce.
func (l loginTokens) token(nonce string) string {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte("pushpipe console login\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// valid reports whether token is the form token of nonce.
func (l loginTokens) valid(nonce, token string) bool {
	return nonce != "" && token != "" && hmac.Equal([]byte(token), []byte(l.token(nonce)))
}
