package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/apns"
	"github.com/pushpipe/pushpipe/channels/fcm"
	"github.com/pushpipe/pushpipe/channels/harmonyos"
	"github.com/pushpipe/pushpipe/channels/hms"
	"github.com/pushpipe/pushpipe/channels/honor"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/oppo"
	"github.com/pushpipe/pushpipe/channels/selfchannel"
	"github.com/pushpipe/pushpipe/channels/sms"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/channels/vivo"
	"github.com/pushpipe/pushpipe/infra/chdb"
	embeddedkafka "github.com/pushpipe/pushpipe/infra/kafka"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/workers/receipts"
)

// Embedded is the local infrastructure of `pushpipe dev`: the embedded
// Kafka-protocol broker, the embedded ClickHouse and the vendor simulator.
// A nil field was not started because the configuration names an external
// server (or, for the simulator, real vendors).
type Embedded struct {
	Kafka      *embeddedkafka.Broker
	ClickHouse *chdb.Server
	Simulator  *vendorsim.Server
}

// StartEmbedded starts what the configuration leaves to the embedded
// servers, with their data under cfg.StateDir (created 0700: it holds
// every record, the saved SASL users and keys) so a second run finds the
// data of the first. With kafka.sasl set the embedded broker requires
// SASL and knows the configured user; with a clickhouse.username other
// than default the embedded ClickHouse has that user with
// clickhouse.password. On error everything already started is closed.
func StartEmbedded(ctx context.Context, cfg *config.Config, log zerolog.Logger) (_ *Embedded, err error) {
	e := &Embedded{}
	defer func() {
		if err != nil {
			_ = e.Close()
		}
	}()
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory %s: %w", cfg.StateDir, err)
	}
	if cfg.Kafka.Embedded() {
		var users []embeddedkafka.SASLUser
		if s := cfg.Kafka.SASL; s.Mechanism != "" {
			user, err := s.UsernameValue()
			if err != nil {
				return nil, err
			}
			pw, err := s.PasswordValue()
			if err != nil {
				return nil, err
			}
			users = []embeddedkafka.SASLUser{{Mechanism: s.Mechanism, Username: user, Password: pw}}
		}
		e.Kafka, err = embeddedkafka.Start(ctx, embeddedkafka.Config{
			DataDir: cfg.KafkaDataDir(), Port: cfg.Kafka.EmbeddedPort, SASL: users,
			Logger: log.With().Str("component", "kafka").Logger(),
		})
		if err != nil {
			return nil, fmt.Errorf("starting embedded kafka: %w", err)
		}
	}
	if cfg.ClickHouse.Embedded() {
		lib := cfg.ClickHouse.LibPath
		if lib == "" {
			lib = chdb.DefaultLibPath()
		}
		var users []chdb.User
		if u := cfg.ClickHouse.Username; u != config.DefaultCHUser {
			pw, err := cfg.ClickHouse.PasswordValue()
			if err != nil {
				return nil, err
			}
			users = []chdb.User{{Name: u, Password: pw}}
		}
		e.ClickHouse, err = chdb.Start(ctx, chdb.Config{
			LibPath: lib, DataDir: cfg.ClickHouseDataDir(), Users: users,
			TCPPort: cfg.ClickHouse.EmbeddedTCPPort, HTTPPort: cfg.ClickHouse.EmbeddedHTTPPort,
			Logger: log.With().Str("component", "clickhouse").Logger(),
		})
		if err != nil {
			return nil, fmt.Errorf("starting embedded clickhouse: %w", err)
		}
	}
	if cfg.Vendors.Simulator {
		e.Simulator, err = allvendors.Start(ctx, SimulatorConfig(cfg))
		if err != nil {
			return nil, err
		}
		if err := WriteSimulatorCA(cfg, e.Simulator); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// SimulatorConfig is the vendor simulator configuration matching the apps
// of cfg: every vendor credential an app has is accepted by the simulated
// vendor, on cfg.Vendors.SimulatorAddr (APNs and FCM on SimulatorTLSAddr). The
// simulator posts receipts and app events to the receipts worker of each
// region cfg.SimulatorReceiptURLs names (under `pushpipe dev`, the
// worker of every served region), at the rates of
// cfg.Vendors.SimulatorReceipts (demo defaults: 90% arrive, 30% of the
// arrivals are opened, half of the others ignored).
func SimulatorConfig(cfg *config.Config) vendorsim.Config {
	sc := vendorsim.Config{Addr: cfg.Vendors.SimulatorAddr}
	sc.APNs.TLSAddr = cfg.Vendors.SimulatorTLSAddr
	if urls := cfg.SimulatorReceiptURLs(); len(urls) > 0 {
		r := cfg.Vendors.SimulatorReceipts
		arrival, open, ignore := r.Rates()
		sc.Receipts = vendorsim.ReceiptsConfig{URLs: urls, ArrivalRate: arrival, OpenRate: open, IgnoreRate: ignore,
			Delay: vendorsim.Duration(r.Delay), Credentials: SimulatorReceiptCredentials(cfg)}
	}
	for i := range cfg.Apps {
		a := &cfg.Apps[i]
		if m := config.AppCredentials[mipush.App](a); m != nil {
			sc.MiPush.Apps = append(sc.MiPush.Apps, vendorsim.MiPushApp{AppID: a.AppID, Secret: m.AppSecret, PackageName: m.PackageName})
		}
		if p := config.AppCredentials[apns.App](a); p != nil {
			sc.APNs.Apps = append(sc.APNs.Apps, vendorsim.APNsApp{AppID: a.AppID, TeamID: p.TeamID, KeyID: p.KeyID,
				BundleID: p.BundleID, PrivateKey: p.PrivateKey})
		}
		if f := config.AppCredentials[fcm.App](a); f != nil {
			sc.FCM.Apps = append(sc.FCM.Apps, vendorsim.FCMApp{AppID: a.AppID, ProjectID: f.ProjectID, ClientEmail: f.ClientEmail,
				PrivateKey: f.PrivateKey})
		}
		if h := config.AppCredentials[hms.App](a); h != nil {
			sc.HMS.Apps = append(sc.HMS.Apps, vendorsim.HMSApp{AppID: a.AppID, ClientID: h.AppID, ClientSecret: h.AppSecret})
		}
		if h := config.AppCredentials[honor.App](a); h != nil {
			sc.Honor.Apps = append(sc.Honor.Apps, vendorsim.HonorApp{AppID: a.AppID, HonorAppID: h.AppID, ClientID: h.ClientID,
				ClientSecret: h.ClientSecret})
		}
		if h := config.AppCredentials[harmonyos.App](a); h != nil {
			sc.HarmonyOS.Apps = append(sc.HarmonyOS.Apps, vendorsim.HarmonyOSApp{AppID: a.AppID, ProjectID: h.ProjectID, ClientID: h.ClientID,
				KeyID: h.KeyID, SubAccount: h.SubAccount, PrivateKey: h.PrivateKey})
		}
		if o := config.AppCredentials[oppo.App](a); o != nil {
			sc.OPPO.Apps = append(sc.OPPO.Apps, vendorsim.OPPOApp{AppID: a.AppID, AppKey: o.AppKey, MasterSecret: o.MasterSecret})
		}
		if v := config.AppCredentials[vivo.App](a); v != nil {
			sc.Vivo.Apps = append(sc.Vivo.Apps, vendorsim.VivoApp{AppID: a.AppID, VivoAppID: v.AppID, AppKey: v.AppKey, AppSecret: v.AppSecret})
		}
		if s := config.AppCredentials[selfchannel.App](a); s != nil {
			sc.Self.Apps = append(sc.Self.Apps, vendorsim.SelfApp{AppID: a.AppID, AppKey: s.AppKey})
		}
		if s := config.AppCredentials[sms.App](a); s != nil {
			sc.SMS.Apps = append(sc.SMS.Apps, vendorsim.SMSApp{AppID: a.AppID, AccessKeyID: s.AccessKeyID, AccessKeySecret: s.AccessKeySecret})
		}
	}
	return sc
}

// SimulatorReceiptCredentials are the receipt credentials of the apps of
// cfg, for the simulator to sign its receipts with as the vendors and the
// app SDK would.
func SimulatorReceiptCredentials(cfg *config.Config) map[string]vendorsim.ReceiptCredentials {
	out := map[string]vendorsim.ReceiptCredentials{}
	for _, a := range cfg.Apps {
		r := a.Receipts
		if r == nil {
			continue
		}
		c := vendorsim.ReceiptCredentials{HonorToken: r.HonorToken, ClientKey: r.ClientKey}
		if cb := r.Huawei[hms.Name]; cb != nil {
			c.HMSUser, c.HMSKey = cb.User, cb.Key
		}
		if cb := r.Huawei[harmonyos.Name]; cb != nil {
			c.HarmonyOSUser, c.HarmonyOSKey = cb.User, cb.Key
		}
		out[a.AppID] = c
	}
	return out
}

// AddDemoKeys gives every app demo credentials for each vendor it has none
// for: fixed secrets for Huawei, Honor, OPPO, vivo, the self-built channel,
// Alibaba Cloud SMS and the receipts (Huawei and HarmonyOS callback user
// names and keys, an Honor receipt token, an app SDK client key), and
// freshly generated keys for APNs (ES256 .p8), FCM and HarmonyOS (RSA
// service accounts). They are only good for the simulator, which is given
// the same credentials; `pushpipe dev` and the tests call it so that every
// vendor can be tried without real accounts.
func AddDemoKeys(cfg *config.Config) error {
	for i := range cfg.Apps {
		a := &cfg.Apps[i]
		// Each app gets credentials of its own, as the simulator (like the
		// vendors) refuses two apps sharing one; the first app's are the
		// documented demo values.
		name := func(s string) string {
			if i == 0 {
				return s
			}
			return s + "-" + strconv.Itoa(i+1)
		}
		number := func(n int64) string { return strconv.FormatInt(n+int64(10*i), 10) }
		if a.Receipts == nil {
			a.Receipts = &config.AppReceipts{
				Huawei: map[string]*receipts.HuaweiCallback{
					hms.Name:       {User: name("demo-hms-receipts"), Key: channels.Secret(name("demo-hms-callback-key"))},
					harmonyos.Name: {User: name("demo-harmonyos-receipts"), Key: channels.Secret(name("demo-harmonyos-callback-key"))},
				},
				HonorToken: channels.Secret(name("demo-honor-receipt-token")),
				ClientKey:  channels.Secret(name("demo-app-sdk-client-key")),
			}
		}
		if a.Credentials[hms.Name] == nil {
			a.SetCredentials(hms.Name, &hms.App{AppID: number(104000001), AppSecret: channels.Secret(name("demo-hms-secret"))})
		}
		if a.Credentials[honor.Name] == nil {
			a.SetCredentials(honor.Name, &honor.App{AppID: number(104000002), ClientID: name("demo-honor-client"), ClientSecret: channels.Secret(name("demo-honor-secret"))})
		}
		if a.Credentials[oppo.Name] == nil {
			a.SetCredentials(oppo.Name, &oppo.App{AppKey: name("demo-oppo-key"), MasterSecret: channels.Secret(name("demo-oppo-master-secret"))})
		}
		if a.Credentials[vivo.Name] == nil {
			a.SetCredentials(vivo.Name, &vivo.App{AppID: number(104000003), AppKey: name("demo-vivo-key"), AppSecret: channels.Secret(name("demo-vivo-secret"))})
		}
		if a.Credentials[selfchannel.Name] == nil {
			a.SetCredentials(selfchannel.Name, &selfchannel.App{AppKey: channels.Secret(name("demo-self-key"))})
		}
		if a.Credentials[sms.Name] == nil {
			a.SetCredentials(sms.Name, &sms.App{AccessKeyID: name("LTAIdemoSmsKeyId"), AccessKeySecret: channels.Secret(name("demo-sms-access-key-secret"))})
		}
		if a.Credentials[apns.Name] == nil {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return fmt.Errorf("generating a demo APNs key: %w", err)
			}
			der, err := x509.MarshalPKCS8PrivateKey(k)
			if err != nil {
				return fmt.Errorf("encoding a demo APNs key: %w", err)
			}
			a.SetCredentials(apns.Name, &apns.App{TeamID: "DEMOTEAM01", KeyID: fmt.Sprintf("DEMOKEY%03d", i+1), BundleID: name("com.example.pushdemo"),
				PrivateKey: channels.Secret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
		}
		if a.Credentials[fcm.Name] == nil {
			key, err := demoRSAKey("FCM")
			if err != nil {
				return err
			}
			a.SetCredentials(fcm.Name, &fcm.App{ProjectID: name("pushpipe-demo"), ClientEmail: "pushpipe@" + name("pushpipe-demo") + ".iam.gserviceaccount.com",
				PrivateKeyID: "demo", PrivateKey: key})
		}
		if a.Credentials[harmonyos.Name] == nil {
			key, err := demoRSAKey("HarmonyOS")
			if err != nil {
				return err
			}
			a.SetCredentials(harmonyos.Name, &harmonyos.App{ProjectID: number(101653523863785276), ClientID: number(6917562345678901234),
				KeyID: name("demo-harmonyos-key"), SubAccount: number(107783917), PrivateKey: key})
		}
	}
	return nil
}

// demoRSAKey returns a fresh RSA 2048 private key as PEM PKCS#8, the form
// of a service-account key file; vendor names the key in errors.
func demoRSAKey(vendor string) (channels.Secret, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("generating a demo %s key: %w", vendor, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", fmt.Errorf("encoding a demo %s key: %w", vendor, err)
	}
	return channels.Secret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// WriteSimulatorCA writes the running simulator's CA certificate to
// <stateDir>/vendorsim-ca.pem and points cfg.Vendors.SimulatorCAFile at it,
// so APNs and FCM clients (in this or another process) trust the simulator.
func WriteSimulatorCA(cfg *config.Config, sim *vendorsim.Server) error {
	path := filepath.Join(cfg.StateDir, "vendorsim-ca.pem")
	if err := os.WriteFile(path, sim.CACertPEM(), 0o644); err != nil {
		return fmt.Errorf("writing the simulator CA: %w", err)
	}
	cfg.Vendors.SimulatorCAFile = path
	return nil
}

// Close stops the simulator, ClickHouse and Kafka, in that order. It is
// idempotent.
func (e *Embedded) Close() error {
	var errs []error
	if e.Simulator != nil {
		errs = append(errs, e.Simulator.Close())
	}
	if e.ClickHouse != nil {
		errs = append(errs, e.ClickHouse.Close())
	}
	if e.Kafka != nil {
		errs = append(errs, e.Kafka.Close())
	}
	return errors.Join(errs...)
}
