package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReceiptsAddresses(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		addr     string
		regions  []string
		want     []string
		wantErr  string
	}{
		{"default: consecutive ports from 18100", "", []string{"cn", "ru", "in", "eu", "sg"},
			[]string{"127.0.0.1:18100", "127.0.0.1:18101", "127.0.0.1:18102", "127.0.0.1:18103", "127.0.0.1:18104"}, ""},
		{"free ports stay free", "127.0.0.1:0", []string{"sg", "eu"}, []string{"127.0.0.1:0", "127.0.0.1:0"}, ""},
		{"no port", "localhost", []string{"sg"}, nil, "receipts.addr"},
		{"no room for every region", "127.0.0.1:65535", []string{"sg", "eu"}, nil, "room for 2 consecutive ports"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := &Config{Regions: tc.regions, Receipts: ReceiptsConfig{Addr: tc.addr}}
			c.Defaults()
			err := c.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate() = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				if got := c.ReceiptsAddr(i); got != w {
					t.Errorf("ReceiptsAddr(%d) = %s, want %s", i, got, w)
				}
			}
		})
	}
}

// TestReceiptsSection reads the receipt settings and the apps' receipt
// credentials from YAML into the receipts worker's settings, and refuses
// what cannot work, naming the field.
func TestReceiptsSection(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "id-secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("k", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "security: {idSecretFile: " + secret + "}\n"
	apps := `apps:
  - appId: A1
    mipush: {appSecret: s, packageName: p}
    receipts:
      hms: {user: hms-user, key: hms-key}
      harmonyos: {user: hos-user, key: hos-key}
      honorToken: honor-token-0123456
      clientKey: client-key-0123456
`
	for _, tc := range []struct {
		scenario, yaml, wantErr string
		check                   func(t *testing.T, c *Config)
	}{
		{"credentials, sources and public URLs", base + apps + `receipts:
  publicUrls: {sg: "https://receipts-sg.example.com/"}
  allowedSources: {hms: [203.0.113.0/24, 198.51.100.7], client: ["2001:db8::/32"]}
  signatureWindow: 2m
  maxEvents: 100
`, "", func(t *testing.T, c *Config) {
			w, err := c.ReceiptsWorker()
			if err != nil {
				t.Fatal(err)
			}
			cr := w.Apps["A1"]
			if !w.IDKey.Valid() || cr.Huawei["hms"].User != "hms-user" || cr.Huawei["hms"].Key.Reveal() != "hms-key" || cr.Huawei["harmonyos"].User != "hos-user" ||
				cr.HonorToken.Reveal() != "honor-token-0123456" || cr.ClientKey.Reveal() != "client-key-0123456" {
				t.Fatalf("receipts worker settings %+v", w)
			}
			if len(w.AllowedSources["hms"]) != 2 || w.AllowedSources["hms"][1].String() != "198.51.100.7/32" || len(w.AllowedSources["client"]) != 1 ||
				w.SignatureWindow.Minutes() != 2 || w.MaxEvents != 100 {
				t.Fatalf("sources %v, window %s, max events %d", w.AllowedSources, w.SignatureWindow, w.MaxEvents)
			}
			if got := c.ReceiptCallbackURL("mipush", "sg"); got != "https://receipts-sg.example.com/receipts/mipush" {
				t.Fatalf("MiPush receipt address %q", got)
			}
			if got := c.ReceiptCallbackURL("mipush", "eu"); got != "" {
				t.Fatalf("a region without a public URL sends %q", got)
			}
			k := w.IDKey.DeliveryID("A1", "m", "d")
			if k2, _ := c.IDKey(); k2.DeliveryID("A1", "m", "d") != k {
				t.Fatal("the receipts worker and the fanout derive different ids")
			}
		}},
		{"no secret: the development file, missing", apps, "", func(t *testing.T, c *Config) {
			if _, err := c.IDKey(); err == nil || !strings.Contains(err.Error(), "head -c 32 /dev/urandom") {
				t.Fatalf("IDKey() = %v, want an error saying how to create the secret", err)
			}
		}},
		{"an inline secret", "security: {idSecret: " + strings.Repeat("i", 40) + "}\n", "", func(t *testing.T, c *Config) {
			if k, err := c.IDKey(); err != nil || !k.Valid() {
				t.Fatalf("IDKey() = %v, %v", k, err)
			}
			if strings.Contains(fmt.Sprintf("%+v %#v", c.Redacted(), c.Redacted()), strings.Repeat("i", 40)) {
				t.Fatal("the id secret is printed")
			}
		}},
		{"a short inline secret", "security: {idSecret: short}\n", "security.idSecret is shorter than 32 bytes", nil},
		{"both an inline secret and a file", "security: {idSecret: " + strings.Repeat("i", 40) + ", idSecretFile: /x}\n", "not both", nil},
		{"a public URL with a query", base + "receipts: {publicUrls: {sg: 'https://r.example.com/?x=1'}}\n", "receipts.publicUrls.sg", nil},
		{"a public URL of no region", base + "receipts: {publicUrls: {us: 'https://r.example.com'}}\n", `"us" is not a region`, nil},
		{"sources of an unknown endpoint", base + "receipts: {allowedSources: {apns: [10.0.0.0/8]}}\n", `"apns" is not a receipt endpoint`, nil},
		{"a source that is no CIDR", base + "receipts: {allowedSources: {hms: [somewhere]}}\n", "is not a CIDR", nil},
		{"huawei credentials without a key", base + "apps: [{appId: A, receipts: {hms: {user: u}}}]\n", "hms needs user and key", nil},
		{"a short client key", base + "apps: [{appId: A, receipts: {clientKey: short}}]\n", "clientKey is shorter than 16", nil},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c, err := Load(write(t, tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			c.StateDir = t.TempDir()
			err = c.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate() = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// TestDevIDSecretIsCreatedOnce creates the development id secret with
// mode 0600 in a 0700 folder, and keeps it on the next start.
func TestDevIDSecretIsCreatedOnce(t *testing.T) {
	c := &Config{StateDir: t.TempDir()}
	c.Defaults()
	if err := c.EnsureDevIDSecret(); err != nil {
		t.Fatal(err)
	}
	k1, err := c.IDKey()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{c.DevIDSecretFile(): 0o600, filepath.Dir(c.DevIDSecretFile()): 0o700 | os.ModeDir} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Fatalf("%s: mode %v (%v), want %v", path, fi.Mode(), err, want)
		}
	}
	if err := c.EnsureDevIDSecret(); err != nil {
		t.Fatal(err)
	}
	k2, _ := c.IDKey()
	if k1.DeliveryID("a", "m", "d") != k2.DeliveryID("a", "m", "d") {
		t.Fatal("the second start made another secret")
	}
	// A configured secret is left alone: nothing is created for it.
	o := &Config{StateDir: t.TempDir(), Security: SecurityConfig{IDSecretFile: "/nonexistent/secret"}}
	if err := o.EnsureDevIDSecret(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.DevIDSecretFile()); err == nil {
		t.Fatal("a development secret was made although one is configured")
	}
}
