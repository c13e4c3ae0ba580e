package callbacks

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pushpipe/pushpipe/channels/fcm"
)

// KeyBits is the size of the RSA keys LoadOrCreateKey creates and the
// least size NewSigner accepts (mPaaS §6.9 asks for 2048-bit keys).
const KeyBits = 2048

// ErrBadSignature is returned (wrapped) by Verify when the signature does
// not match the body and key.
var ErrBadSignature = errors.New("callbacks: signature does not match the body")

// Signer signs callback bodies with one RSA private key, the way mPaaS
// signs its business callbacks (§6.9): SHA256withRSA (PKCS #1 v1.5) over
// the exact body bytes, base64 with '+' and '/' replaced by '-' and '_'
// (padding kept). A Signer is immutable and safe for concurrent use.
type Signer struct {
	key    *rsa.PrivateKey
	pubPEM []byte
}

// NewSigner returns a signer for key. It refuses keys shorter than
// KeyBits bits.
func NewSigner(key *rsa.PrivateKey) (*Signer, error) {
	if key == nil {
		return nil, errors.New("callbacks: no private key given")
	}
	if n := key.N.BitLen(); n < KeyBits {
		return nil, fmt.Errorf("callbacks: the RSA key has %d bits: use a key of at least %d bits", n, KeyBits)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("callbacks: encoding the public key: %w", err)
	}
	return &Signer{key: key, pubPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}, nil
}

// Sign returns the signature of body in the §6.9 encoding: URL-safe
// base64 (RFC 4648 §5) of the SHA256withRSA signature, with padding. It
// fails only if the RSA operation does.
func (s *Signer) Sign(body []byte) (string, error) {
	sum := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("signing a %d-byte callback body: %w", len(body), err)
	}
	return base64.URLEncoding.EncodeToString(sig), nil
}

// PublicKey is the public half of the signing key.
func (s *Signer) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// PublicKeyPEM is the public key as a PEM "PUBLIC KEY" block (PKIX,
// SubjectPublicKeyInfo): what receivers of callbacks verify with, the
// same form `openssl rsa -pubout` writes. The caller must not modify it.
func (s *Signer) PublicKeyPEM() []byte { return s.pubPEM }

// Verify checks that sign is the signature of body under pub, accepting
// what the Java sample of §6.9 accepts: the URL-safe alphabet ('-', '_')
// or the standard one ('+', '/'), with or without padding. It returns nil
// for a good signature, an error wrapping ErrBadSignature for a wrong one,
// and another error when sign is not base64 at all.
func Verify(pub *rsa.PublicKey, body []byte, sign string) error {
	if pub == nil {
		return errors.New("callbacks: no public key to verify with")
	}
	std := strings.TrimRight(strings.NewReplacer("-", "+", "_", "/").Replace(sign), "=")
	sig, err := base64.RawStdEncoding.DecodeString(std)
	if err != nil {
		return fmt.Errorf("callbacks: decoding the sign parameter: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// ParsePrivateKeyPEM reads an RSA private key from PEM: a PKCS #8
// "PRIVATE KEY" block (what `openssl genpkey` writes) or a PKCS #1 "RSA
// PRIVATE KEY" block. Encrypted keys are refused.
func ParsePrivateKeyPEM(b []byte) (*rsa.PrivateKey, error) {
	if block, _ := pem.Decode(b); block != nil && (block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "") {
		return nil, errors.New("the key is encrypted: store it unencrypted with restricted file permissions")
	}
	return fcm.ParsePrivateKey(string(b)) // the same PEM forms as service-account keys
}

// LoadKey reads the private key at path (see ParsePrivateKeyPEM). A
// missing file gives an error satisfying errors.Is(err, fs.ErrNotExist).
func LoadKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the callback signing key: %w", err)
	}
	k, err := ParsePrivateKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("reading the callback signing key %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateKey reads the private key at path or, when no file is
// there, creates a KeyBits-bit key and stores it there as PKCS #8 PEM with
// permissions 0600 (a missing folder is created 0700). The file appears
// complete or not at all; when several processes create it at once, all
// of them end up with the key of the one that stored it first.
func LoadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	k, err := LoadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the folder of the callback signing key: %w", err)
	}
	k, err = rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, fmt.Errorf("generating a callback signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encoding the callback signing key: %w", err)
	}
	if err := writeNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadKey(path)
		}
		return nil, fmt.Errorf("storing the callback signing key: %w", err)
	}
	return k, nil
}

// writeNew writes b to a temporary file beside path (permissions 0600)
// and links it to path, which fails with fs.ErrExist if path exists.
func writeNew(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*.tmp")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // CreateTemp made it 0600
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}

// LoadSigner is LoadOrCreateKey followed by NewSigner.
func LoadSigner(path string) (*Signer, error) {
	k, err := LoadOrCreateKey(path)
	if err != nil {
		return nil, err
	}
	return NewSigner(k)
}
