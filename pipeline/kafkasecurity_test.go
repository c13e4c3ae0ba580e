package pipeline

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	embeddedkafka "github.com/pushpipe/pushpipe/infra/kafka"
	"github.com/pushpipe/pushpipe/internal/testinfra"
)

func TestNewSASL(t *testing.T) {
	for _, tc := range []struct {
		scenario, mechanism, user, password string
		wantErr                             string
	}{
		{scenario: "SCRAM-SHA-512", mechanism: SASLScramSHA512, user: "u", password: "p"},
		{scenario: "SCRAM-SHA-256", mechanism: SASLScramSHA256, user: "u", password: "p"},
		{scenario: "PLAIN", mechanism: SASLPlain, user: "u", password: "p"},
		{scenario: "unknown mechanism", mechanism: "GSSAPI", user: "u", password: "p", wantErr: `SASL mechanism "GSSAPI" is unknown: use one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{scenario: "lower-case name", mechanism: "scram-sha-512", user: "u", password: "p", wantErr: "is unknown"},
		{scenario: "no user", mechanism: SASLScramSHA512, password: "p", wantErr: "SASL SCRAM-SHA-512 needs a username"},
		{scenario: "no password", mechanism: SASLPlain, user: "u", wantErr: "SASL PLAIN needs a password"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			m, err := NewSASL(tc.mechanism, tc.user, tc.password)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewSASL = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Name() != tc.mechanism {
				t.Errorf("mechanism %s, want %s", m.Name(), tc.mechanism)
			}
		})
	}
}

func TestKafkaSecurityString(t *testing.T) {
	scram, err := NewSASL(SASLScramSHA512, "pushpipe", "s3cret-password")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sec  KafkaSecurity
		want string
	}{
		{KafkaSecurity{}, "plaintext without SASL"},
		{KafkaSecurity{TLS: &tls.Config{}}, "TLS without SASL"},
		{KafkaSecurity{SASL: scram}, "SASL SCRAM-SHA-512 over plaintext"},
		{KafkaSecurity{SASL: scram, TLS: &tls.Config{}}, "SASL SCRAM-SHA-512 over TLS"},
	} {
		if got := tc.sec.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
		if s := fmt.Sprintf("%v %+v", tc.sec, tc.sec); strings.Contains(s, "s3cret") {
			t.Errorf("the security prints its password: %s", s)
		}
	}
	d := KafkaSecurity{SASL: scram, TLS: &tls.Config{ServerName: "kafka"}}.Dialer("id", 0)
	if d.SASLMechanism != scram || d.TLS == nil || d.TLS.ServerName != "kafka" || d.ClientID != "id" || d.Timeout != 10*time.Second {
		t.Errorf("Dialer = %+v: SASL, TLS, client id or default timeout missing", d)
	}
	if tr := (KafkaSecurity{SASL: scram, TLS: &tls.Config{}}).Transport("id"); tr.SASL != scram || tr.TLS == nil || tr.ClientID != "id" {
		t.Errorf("Transport = %+v: SASL, TLS or client id missing", tr)
	}
}

// TestKafkaSecurityAgainstBroker runs a stage against the embedded broker
// with SASL switched on (and TLS in some cases): with the right
// credentials it consumes, produces and commits; wrong credentials, a
// client without SASL and TLS mismatches are refused with an error saying
// what to check, and write nothing.
func TestKafkaSecurityAgainstBroker(t *testing.T) {
	ca := testinfra.NewCA(t)
	otherCA := testinfra.NewCA(t)
	clientTLS := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	mustSASL := func(mechanism, user, password string) KafkaSecurity {
		m, err := NewSASL(mechanism, user, password)
		if err != nil {
			t.Fatal(err)
		}
		return KafkaSecurity{SASL: m}
	}
	withTLS := func(s KafkaSecurity, c *tls.Config) KafkaSecurity { s.TLS = c; return s }
	type refusal struct {
		scenario string
		sec      KafkaSecurity
		want     []string // in the error
	}
	for _, tc := range []struct {
		scenario string
		users    []embeddedkafka.SASLUser
		tls      bool
		good     KafkaSecurity
		refused  []refusal
	}{
		{
			scenario: "SCRAM-SHA-512 on a plaintext listener",
			users:    []embeddedkafka.SASLUser{{Mechanism: SASLScramSHA512, Username: "pushpipe-fanout", Password: "correct horse"}},
			good:     mustSASL(SASLScramSHA512, "pushpipe-fanout", "correct horse"),
			refused: []refusal{
				{"wrong password", mustSASL(SASLScramSHA512, "pushpipe-fanout", "battery staple"),
					[]string{"during the SASL SCRAM-SHA-512 login: wrong credentials", "check kafka.sasl.username"}},
				{"unknown user", mustSASL(SASLScramSHA512, "intruder", "correct horse"),
					[]string{"during the SASL SCRAM-SHA-512 login: wrong credentials", "check kafka.sasl.username"}},
				{"the user's other SCRAM mechanism", mustSASL(SASLScramSHA256, "pushpipe-fanout", "correct horse"),
					[]string{"during the SASL SCRAM-SHA-256 login: wrong credentials", "check kafka.sasl.username"}},
				{"no SASL at all", KafkaSecurity{}, []string{"the listener requires SASL (set kafka.sasl)", "this plaintext without SASL client"}},
			},
		},
		{
			scenario: "SCRAM-SHA-256 over TLS",
			users:    []embeddedkafka.SASLUser{{Mechanism: SASLScramSHA256, Username: "pushpipe-sender", Password: "tr0ub4dor"}},
			tls:      true,
			good:     withTLS(mustSASL(SASLScramSHA256, "pushpipe-sender", "tr0ub4dor"), clientTLS),
			refused: []refusal{
				{"wrong password", withTLS(mustSASL(SASLScramSHA256, "pushpipe-sender", "tr0ub4dor!"), clientTLS),
					[]string{"during the SASL SCRAM-SHA-256 login: wrong credentials", "check kafka.tls"}},
				{"TLS without SASL", KafkaSecurity{TLS: clientTLS}, []string{"the listener requires SASL (set kafka.sasl)", "this TLS without SASL client"}},
				{"SASL without TLS", mustSASL(SASLScramSHA256, "pushpipe-sender", "tr0ub4dor"), []string{"wrong credentials", "a listener that expects TLS (check kafka.tls.enabled)"}},
				{"a certificate from another CA", withTLS(mustSASL(SASLScramSHA256, "pushpipe-sender", "tr0ub4dor"), &tls.Config{RootCAs: otherCA.Pool}),
					[]string{"the brokers' certificate is not trusted", "kafka.tls.caFile"}},
			},
		},
		{
			scenario: "PLAIN over TLS",
			users:    []embeddedkafka.SASLUser{{Mechanism: SASLPlain, Username: "pushpipe-gateway", Password: "hunter2"}},
			tls:      true,
			good:     withTLS(mustSASL(SASLPlain, "pushpipe-gateway", "hunter2"), clientTLS),
			refused: []refusal{
				{"wrong password", withTLS(mustSASL(SASLPlain, "pushpipe-gateway", "hunter3"), clientTLS), []string{"during the SASL PLAIN login: wrong credentials", "check kafka.sasl.username"}},
			},
		},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cfg := embeddedkafka.Config{SASL: tc.users, GroupMinSessionTimeout: time.Second}
			if tc.tls {
				cfg.TLS = ca.ServerConfig(t, "kafka", false)
			}
			b, err := embeddedkafka.Start(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			brokers := []string{b.Addr()}

			if err := CheckKafka(ctx, brokers, tc.good, 10*time.Second); err != nil {
				t.Fatalf("CheckKafka with the right credentials: %v", err)
			}
			in, out := "test.secured.in."+testRegion, "test.secured.out."+testRegion
			if err := EnsureTopics(ctx, brokers, tc.good, []TopicSpec{{Name: in}, {Name: out}}, 2); err != nil {
				t.Fatalf("EnsureTopics: %v", err)
			}
			p, err := NewProducer(ProducerConfig{Brokers: brokers, Security: tc.good, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			const n = 20
			want := produceInputs(t, ctx, p, in, n, 5, "secured")

			sc := testStageConfig(t, in, "test.secured.group")
			sc.Brokers, sc.Security = brokers, tc.good
			rs := startStage(t, sc, &recorder{out: out}, p)
			if err := WaitCaughtUp(ctx, brokers, tc.good, sc.GroupID, in, 20*time.Millisecond); err != nil {
				t.Fatalf("the stage did not commit its input through SASL: %v", err)
			}
			if err := rs.stop(t); err != nil {
				t.Fatalf("stage: %v", err)
			}
			if got := values(readAll(t, ctx, brokers, tc.good, out)); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("output topic holds %v, want %v", got, want)
			}

			for _, r := range tc.refused {
				t.Run(r.scenario, func(t *testing.T) {
					err := CheckKafka(ctx, brokers, r.sec, 5*time.Second)
					if err == nil {
						t.Fatal("CheckKafka succeeded, want the brokers to refuse the client")
					}
					for _, w := range r.want {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("error %q does not say %q", err, w)
						}
					}
					pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
					defer pcancel()
					bad, err := NewProducer(ProducerConfig{Brokers: brokers, Security: r.sec, MaxAttempts: 1, Logger: testLogger(t)})
					if err != nil {
						t.Fatal(err)
					}
					defer func() { _ = bad.Close() }()
					err = bad.Produce(pctx, []Output{{Topic: in, Key: []byte("k"), Value: []byte("intruder")}})
					if err == nil {
						t.Fatal("a refused client produced a record")
					}
					if !strings.Contains(err.Error(), r.want[0]) {
						t.Errorf("Produce error %q does not say %q", err, r.want[0])
					}
					if err := EnsureTopics(pctx, brokers, r.sec, []TopicSpec{{Name: "test.intruder." + testRegion}}, 1); err == nil {
						t.Fatal("a refused client created a topic")
					}
				})
			}
			// Nothing a refused client tried is on the input topic.
			if got := readAll(t, ctx, brokers, tc.good, in); len(got) != n {
				t.Errorf("input topic holds %d records after the refused clients, want %d", len(got), n)
			}
		})
	}
}

// readAll returns every record currently in topic, partition by partition
// in offset order, read over connections secured with sec.
func readAll(t *testing.T, ctx context.Context, brokers []string, sec KafkaSecurity, topic string) []kafka.Message {
	t.Helper()
	transport := sec.Transport("test-read")
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: transport, Timeout: 5 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	var reqs []kafka.OffsetRequest
	for _, tp := range md.Topics {
		for _, p := range tp.Partitions {
			reqs = append(reqs, kafka.LastOffsetOf(p.ID))
		}
	}
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	var out []kafka.Message
	for _, po := range offs.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, po.Partition, po.Error)
		}
		if po.LastOffset == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Dialer: sec.Dialer("test-read", 0), Topic: topic, Partition: po.Partition,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				_ = r.Close()
				t.Fatalf("reading %s/%d: %v", topic, po.Partition, err)
			}
			out = append(out, m)
			if m.Offset+1 >= po.LastOffset {
				break
			}
		}
		_ = r.Close()
	}
	return out
}

func TestExplainKeepsTheCause(t *testing.T) {
	sec := KafkaSecurity{}
	for _, cause := range []error{kafka.SASLAuthenticationFailed, kafka.TopicAuthorizationFailed, kafka.UnsupportedSASLMechanism} {
		err := sec.Explain(fmt.Errorf("writing: %w", cause))
		if !errors.Is(err, cause) {
			t.Errorf("Explain(%v) = %v, which errors.Is no longer sees", cause, err)
		}
		if err.Error() == fmt.Errorf("writing: %w", cause).Error() {
			t.Errorf("Explain(%v) added nothing", cause)
		}
	}
	plain := errors.New("something else")
	if sec.Explain(plain) != plain || sec.Explain(nil) != nil { //nolint:errorlint // identity: Explain must return the very error it was given
		t.Error("Explain changed an error it has nothing to say about")
	}
}
