package pipeline

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// The SASL mechanisms NewSASL knows, by their Kafka names.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASLMechanisms lists the mechanism names NewSASL accepts.
func SASLMechanisms() []string { return []string{SASLPlain, SASLScramSHA256, SASLScramSHA512} }

// NewSASL returns the SASL mechanism called name (one of SASLMechanisms)
// authenticating as username with password. It fails, saying what to fix,
// for an unknown name or an empty username or password; it does not
// contact any broker.
func NewSASL(name, username, password string) (sasl.Mechanism, error) {
	switch {
	case !slices.Contains(SASLMechanisms(), name):
		return nil, fmt.Errorf("pipeline: SASL mechanism %q is unknown: use one of %s", name, strings.Join(SASLMechanisms(), ", "))
	case username == "":
		return nil, fmt.Errorf("pipeline: SASL %s needs a username", name)
	case password == "":
		return nil, fmt.Errorf("pipeline: SASL %s needs a password", name)
	}
	switch name {
	case SASLPlain:
		return plain.Mechanism{Username: username, Password: password}, nil
	case SASLScramSHA256:
		return scram.Mechanism(scram.SHA256, username, password)
	default:
		return scram.Mechanism(scram.SHA512, username, password)
	}
}

// KafkaSecurity is how every Kafka connection of the process is secured:
// SASL authentication and TLS encryption. It is the one place the
// project's kafka-go dialers and transports are made (Dialer, Transport),
// so that every reader, writer, consumer group and admin client carries the
// same credentials; a test (TestKafkaClientsUseKafkaSecurity in
// internal/app) refuses any other. The zero value connects in plaintext without authentication, as
// the embedded development broker expects. A KafkaSecurity is read-only
// once built and safe to share between goroutines.
type KafkaSecurity struct {
	// SASL authenticates every connection (see NewSASL); nil sends none.
	SASL sasl.Mechanism
	// TLS encrypts every connection and checks the brokers' certificates
	// as configured; nil connects in plaintext.
	TLS *tls.Config
}

// String describes the security for logs without any secret, e.g.
// "SASL SCRAM-SHA-512 over TLS" or "plaintext without SASL".
func (s KafkaSecurity) String() string {
	auth := "without SASL"
	if s.SASL != nil {
		auth = "SASL " + s.SASL.Name()
	}
	if s.TLS != nil {
		if s.SASL == nil {
			return "TLS " + auth
		}
		return auth + " over TLS"
	}
	if s.SASL == nil {
		return "plaintext " + auth
	}
	return auth + " over plaintext"
}

// Dialer returns a kafka-go Dialer (for readers and consumer groups)
// that secures its connections with s, names itself clientID to the
// brokers and gives up on a connection after timeout (10s when zero).
func (s KafkaSecurity) Dialer(clientID string, timeout time.Duration) *kafka.Dialer {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &kafka.Dialer{ClientID: clientID, Timeout: timeout, DualStack: true, TLS: s.tlsConfig(), SASLMechanism: s.SASL}
}

// Transport returns a new kafka-go Transport (for writers and admin
// clients) that secures its connections with s and names itself clientID.
// The caller may set its other fields before first use and should call
// CloseIdleConnections when done with it.
func (s KafkaSecurity) Transport(clientID string) *kafka.Transport {
	return &kafka.Transport{ClientID: clientID, TLS: s.tlsConfig(), SASL: s.SASL}
}

// tlsConfig returns a copy of s.TLS (kafka-go may fill ServerName in it
// per broker), or nil.
func (s KafkaSecurity) tlsConfig() *tls.Config {
	if s.TLS == nil {
		return nil
	}
	return s.TLS.Clone()
}

// Explain adds to err, returned by a Kafka call made with s, what the
// error usually means for the security settings: refused credentials, or
// a connection the broker closed because it expects SASL or TLS the
// client did not use (or the other way round). Other errors are returned
// unchanged; nil stays nil. errors.Is and errors.As see through the
// result.
func (s KafkaSecurity) Explain(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kafka.SASLAuthenticationFailed):
		return fmt.Errorf("%w: the brokers refused the SASL %s credentials: check kafka.sasl.username and kafka.sasl.password (or passwordFile)", err, s.saslName())
	case errors.Is(err, kafka.UnsupportedSASLMechanism):
		return fmt.Errorf("%w: the brokers do not accept SASL %s: set kafka.sasl.mechanism to one they enable", err, s.saslName())
	case errors.Is(err, kafka.IllegalSASLState):
		return fmt.Errorf("%w: the brokers expected another SASL exchange: check kafka.sasl.mechanism", err)
	case errors.Is(err, kafka.TopicAuthorizationFailed), errors.Is(err, kafka.GroupAuthorizationFailed),
		errors.Is(err, kafka.ClusterAuthorizationFailed), errors.Is(err, kafka.TransactionalIDAuthorizationFailed):
		return fmt.Errorf("%w: the brokers' ACLs do not allow this principal to do that: see the ACL example in docs/operations.md", err)
	}
	var recordErr tls.RecordHeaderError
	if errors.As(err, &recordErr) {
		return fmt.Errorf("%w: the brokers do not speak TLS on this port: turn kafka.tls.enabled off or use their TLS listener", err)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return fmt.Errorf("%w: the brokers' certificate is not trusted: give kafka.tls.caFile the CA that signed it (and kafka.tls.serverName if it names another host)", err)
	}
	if closedEarly(err) {
		return fmt.Errorf("%w: %s", err, s.closedHint())
	}
	return err
}

// closedHint says what a connection the brokers closed before answering
// usually means for a client secured with s.
func (s KafkaSecurity) closedHint() string {
	listener := "a listener that expects TLS (check kafka.tls.enabled)"
	if s.TLS != nil {
		listener = "a listener that does not speak TLS or SASL this way (check kafka.tls)"
	}
	if s.SASL == nil {
		return "the brokers closed the connection before answering: the listener requires SASL (set kafka.sasl) or TLS (check kafka.tls) that this " + s.String() + " client does not use"
	}
	return "the brokers closed the connection during the SASL " + s.SASL.Name() + " login: wrong credentials " +
		"(check kafka.sasl.username, kafka.sasl.password or passwordFile, and kafka.sasl.mechanism), or " + listener
}

func (s KafkaSecurity) saslName() string {
	if s.SASL == nil {
		return "(none)"
	}
	return s.SASL.Name()
}

// closedEarly reports whether err is the peer closing or resetting the
// connection, which is how a broker drops a client whose security does
// not match its listener.
func closedEarly(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// CheckKafka asks the brokers for their metadata once, over a new
// connection secured with sec, and returns nil when they answer. It fails
// with an error explaining refused credentials or mismatched SASL/TLS
// (see KafkaSecurity.Explain), so a worker can say at start why it cannot
// work instead of retrying forever. It returns within timeout (10s when
// zero) or when ctx ends.
func CheckKafka(ctx context.Context, brokers []string, sec KafkaSecurity, timeout time.Duration) error {
	if len(brokers) == 0 {
		return errors.New("pipeline: CheckKafka: no brokers: give at least one host:port")
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	transport := sec.Transport("pushpipe-check")
	transport.DialTimeout = timeout
	transport.MetadataTTL = time.Hour // one metadata request
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: transport, Timeout: timeout}
	if _, err := client.Metadata(ctx, &kafka.MetadataRequest{}); err != nil {
		return fmt.Errorf("pipeline: connecting to Kafka at %s: %w", strings.Join(brokers, ","), sec.Explain(err))
	}
	return nil
}
