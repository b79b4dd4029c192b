// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-net/weft/subnet"
)

// writeFile writes content to a file in a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *tenv) storedConfig() string {
	e.t.Helper()
	raw, _, err := e.reg.RawConfig(context.Background())
	if errors.Is(err, subnet.ErrConfigNotFound) {
		return ""
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return string(raw)
}

func TestConfigGet(t *testing.T) {
	e := newEnv(t)
	e.wantFail([]string{"network config not found", "weftctl config set -f net-conf.json"}, "config", "get")

	e.knownState()
	golden(t, "config-get.txt", e.mustRun("config", "get"))
	js := e.mustRun("config", "get", "-o", "json")
	golden(t, "config-get.json", js)
	if _, err := subnet.ParseConfig([]byte(js)); err != nil {
		t.Errorf("config get -o json is not a valid net-conf.json: %v", err)
	}
	golden(t, "config-get.yaml", e.mustRun("config", "get", "-o", "yaml"))
	if got := e.mustRun("config", "get", "--raw"); got != testConfig+"\n" {
		t.Errorf("config get --raw = %q, want the stored value", got)
	}

	t.Run("unknown keys", func(t *testing.T) {
		e.putConfig(`{"Network":"10.244.0.0/16","Bakend":1,"Backend":{"Type":"vxlan","VNl":3}}`)
		r := e.run("config", "get")
		if r.code != 0 || !strings.Contains(r.stderr, "keys weft does not know (ignored): Backend.VNl, Bakend") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("invalid stored config", func(t *testing.T) {
		bad := `{"Network":"10.244.0.0/16","SubnetLen":31,"Backend":{"Type":"udp"}}`
		if _, err := e.srv.Client(t).Put(context.Background(), e.reg.ConfigKey(), bad); err != nil {
			t.Fatal(err)
		}
		r := e.wantFail([]string{"is invalid (weftd will not start with it)", "SubnetLen 31", `Backend.Type "udp"`}, "config", "get")
		if r.stdout != bad+"\n" {
			t.Errorf("stdout = %q, want the stored value", r.stdout)
		}
	})
}

func TestConfigSet(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	conf := writeFile(t, "net-conf.json", `{"network": "10.244.0.0/16", "Backend": {"type": "VXLAN", "VNI": 1, "Name": "kept"}, "Extra": [1,2]}`)
	r := e.run("config", "set", "-f", conf)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	golden(t, "config-set-first.txt", strings.ReplaceAll(e.scrub(r.stdout), conf, "net-conf.json"))
	golden(t, "config-set-stored.json", e.storedConfig())
	if !strings.Contains(r.stderr, "stored as written: Backend.Name, Extra") {
		t.Errorf("stderr %q lacks the unknown-keys note", r.stderr)
	}
	if out := e.mustRun("config", "set", "-f", conf); !strings.Contains(out, "is unchanged") {
		t.Errorf("setting the same config: %q, want unchanged", out)
	}

	e.lease("10.244.1.0-24", "198.18.0.1", "0a:00:00:00:00:01", time.Hour)
	e.lease("10.244.200.0-24", "198.18.0.2", "0a:00:00:00:00:02", time.Hour)
	e.lease("10.244.250.0-24", "198.18.0.3", "", 0)
	before := e.storedConfig()

	narrow := writeFile(t, "narrow.json", `{"Network":"10.244.0.0/16","SubnetMax":"10.244.199.0","Backend":{"Type":"vxlan"}}`)
	t.Run("dry run", func(t *testing.T) {
		r := e.wantFail([]string{"refusing to store the config: it would orphan 2 lease(s)", "--force"},
			"config", "set", "-f", narrow, "--dry-run")
		golden(t, "config-set-dry-run.txt", strings.ReplaceAll(e.scrub(r.stdout), narrow, "narrow.json"))
		if e.storedConfig() != before {
			t.Error("dry run changed the stored config")
		}
	})
	t.Run("orphans refused", func(t *testing.T) {
		r := e.wantFail([]string{"would orphan 2 lease(s)"}, "config", "set", "-f", narrow, "-o", "json")
		var res setResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatal(err)
		}
		want := []orphanLease{
			{Key: "10.244.200.0-24", PublicIP: "198.18.0.2", Kind: "lease", Reason: "10.244.200.0/24 is above SubnetMax 10.244.199.0"},
			{Key: "10.244.250.0-24", PublicIP: "198.18.0.3", Kind: "reservation", Reason: "10.244.250.0/24 is above SubnetMax 10.244.199.0"},
		}
		if diff := cmp.Diff(want, res.Orphans); diff != "" || res.Written {
			t.Errorf("orphans (-want +got):\n%s\nwritten %v", diff, res.Written)
		}
		if e.storedConfig() != before {
			t.Error("a refused config was stored")
		}
	})
	for _, tc := range []struct{ name, conf, reason string }{
		{"network moved", `{"Network":"10.245.0.0/16","Backend":{"Type":"vxlan"}}`, "10.244.1.0/24 is outside Network 10.245.0.0/16"},
		{"subnet length", `{"Network":"10.244.0.0/16","SubnetLen":25,"Backend":{"Type":"vxlan"}}`, "10.244.1.0/24 is a /24, and SubnetLen is 25"},
		{"min raised", `{"Network":"10.244.0.0/16","SubnetMin":"10.244.2.0","Backend":{"Type":"vxlan"}}`, "10.244.1.0/24 is below SubnetMin 10.244.2.0"},
		{"IPv6 enabled", `{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan"}}`, "it has no IPv6 subnet, and EnableIPv6 is true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.wantFail([]string{"would orphan"}, "config", "set", "-f", writeFile(t, "c.json", tc.conf))
			if !strings.Contains(r.stdout, tc.reason) {
				t.Errorf("stdout lacks %q:\n%s", tc.reason, r.stdout)
			}
		})
	}
	t.Run("force", func(t *testing.T) {
		out := e.mustRun("config", "set", "-f", narrow, "--force")
		if !strings.Contains(out, "stored ") || !strings.Contains(out, "10.244.200.0-24") {
			t.Errorf("output %q", out)
		}
		cfg, err := e.reg.GetConfig(ctx)
		if err != nil || cfg.SubnetMax.String() != "10.244.199.0" {
			t.Errorf("stored config %+v, %v", cfg, err)
		}
	})
	t.Run("already orphaned leases do not block", func(t *testing.T) {
		wider := writeFile(t, "wider.json", `{"Network":"10.244.0.0/16","SubnetMax":"10.244.199.0","EnableNFTables":true,"Backend":{"Type":"vxlan","VNI":1}}`)
		e.mustRun("config", "set", "-f", wider)
	})
	t.Run("stdin", func(t *testing.T) {
		withStdin(t, `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`)
		e.mustRun("config", "set", "-f", "-", "--force")
		if cfg, err := e.reg.GetConfig(ctx); err != nil || cfg.SubnetMax.String() != "10.244.255.0" {
			t.Errorf("stored config %+v, %v", cfg, err)
		}
	})
}

func TestConfigSetRefusesInvalid(t *testing.T) {
	e := newEnv(t)
	e.putConfig(testConfig)
	before := e.storedConfig()
	for _, tc := range []struct{ name, conf string }{
		{"no backend", `{"Network":"10.244.0.0/16"}`},
		{"udp backend", `{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}`},
		{"host-gw backend", `{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}`},
		{"subnet length", `{"Network":"10.244.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}`},
		{"VNI", `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}`},
		{"not JSON", `Network: 10.244.0.0/16`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := writeFile(t, "net-conf.json", tc.conf)
			_, perr := subnet.ParseConfig([]byte(tc.conf))
			if perr == nil {
				t.Fatal("the validator accepts it")
			}
			// The validator's own message, prefixed with the file name.
			e.wantFail([]string{conf + ": " + perr.Error()}, "config", "set", "-f", conf)
			if e.storedConfig() != before {
				t.Error("an invalid config was stored")
			}
		})
	}
	e.wantUsage([]string{"-f FILE is required"}, "config", "set")
	e.wantFail([]string{"no such file"}, "config", "set", "-f", filepath.Join(t.TempDir(), "missing.json"))
}

func TestLineDiff(t *testing.T) {
	for _, tc := range []struct{ a, b, want string }{
		{"x\n", "x\n", ""},
		{"", "a\nb\n", "--- A\n+++ B\n+a\n+b\n"},
		{"a\nb\nc\n", "a\nx\nc\n", "--- A\n+++ B\n a\n-b\n+x\n c\n"},
		{"a\nb\n", "b\nc\n", "--- A\n+++ B\n-a\n b\n+c\n"},
	} {
		if got := lineDiff(tc.a, tc.b, "A", "B"); got != tc.want {
			t.Errorf("lineDiff(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestConfigSetRestart: a change weftd applies only at start is refused
// while nodes hold leases, naming them, and stored with --force.
func TestConfigSetRestart(t *testing.T) {
	e := newEnv(t)
	e.knownState()
	before := e.storedConfig()
	vni := writeFile(t, "vni.json", `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":2}}`)
	r := e.wantFail([]string{"refusing to store the config: weftd applies Backend.VNI only at start",
		"every one of the 3 node(s) listed above must restart weftd", "--force"}, "config", "set", "-f", vni)
	golden(t, "config-set-restart.txt", strings.ReplaceAll(e.scrub(r.stdout), vni, "vni.json"))
	if e.storedConfig() != before {
		t.Fatal("a refused config was stored")
	}
	r = e.wantFail([]string{"refusing"}, "config", "set", "-f", vni, "--dry-run", "-o", "json")
	var res setResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	wantNodes := []restartNode{
		{PublicIP: "198.18.0.1", Subnet: "10.244.1.0-24", Kind: "lease"},
		{PublicIP: "198.18.0.2", Subnet: "10.244.2.0-24", Kind: "lease"},
		{PublicIP: "198.18.0.3", Subnet: "10.244.3.0-24", Kind: "reservation"}, // in use; 10.244.10.0 is not
	}
	if diff := cmp.Diff(wantNodes, res.Nodes); diff != "" || res.Written || len(res.Orphans) != 0 ||
		!cmp.Equal(res.Restart, []subnet.Change{{Key: "Backend.VNI", Old: "1", New: "2"}}) {
		t.Errorf("nodes (-want +got):\n%s\nrestart %v written %v orphans %v", diff, res.Restart, res.Written, res.Orphans)
	}
	for _, tc := range []struct{ name, backend, key string }{
		{"port", `"Port":4789`, "Backend.Port"},
		{"MTU", `"MTU":1400`, "Backend.MTU"},
		{"GBP", `"GBP":true`, "Backend.GBP"},
		{"learning", `"Learning":true`, "Backend.Learning"},
		{"direct routing", `"DirectRouting":true`, "Backend.DirectRouting"},
		{"checksum offload", `"TxChecksumOffload":"off"`, "Backend.TxChecksumOffload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := writeFile(t, "c.json", `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan",`+tc.backend+`}}`)
			r := e.wantFail([]string{"weftd applies " + tc.key + " only at start"}, "config", "set", "-f", conf)
			if !strings.Contains(r.stdout, "198.18.0.2") {
				t.Errorf("stdout does not name the nodes:\n%s", r.stdout)
			}
		})
	}
	t.Run("IPv6 on", func(t *testing.T) {
		conf := writeFile(t, "c.json", `{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan"}}`)
		e.wantFail([]string{"would orphan", "; and weftd applies EnableIPv6, IPv6Network, IPv6SubnetLen only at start"}, "config", "set", "-f", conf)
	})
	t.Run("allocation range only", func(t *testing.T) {
		conf := writeFile(t, "c.json", `{"Network":"10.244.0.0/16","SubnetMax":"10.244.200.0","Backend":{"Type":"vxlan"}}`)
		if r := e.run("config", "set", "-f", conf); r.code != 0 || strings.Contains(r.stderr, "restart") {
			t.Errorf("SubnetMax needs no restart: exit %d, %q", r.code, r.stderr)
		}
	})
	t.Run("force", func(t *testing.T) {
		r := e.run("config", "set", "-f", vni, "--force")
		if r.code != 0 || !strings.Contains(r.stderr, "restart weftd on every node listed (3) to apply Backend.VNI") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		if cfg, err := e.reg.GetConfig(context.Background()); err != nil || cfg.Backend.VNI != 2 {
			t.Errorf("stored %+v, %v", cfg, err)
		}
	})
	t.Run("no node holds a lease", func(t *testing.T) {
		e := newEnv(t)
		e.putConfig(testConfig)
		e.lease("10.244.10.0-24", "198.18.0.10", "", 0) // a reservation no node uses
		e.mustRun("config", "set", "-f", vni)
	})
}

// TestConfigSetConflict: another writer changing the config between
// weftctl's read and its write makes the compare-and-swap fail; nothing
// of weftctl's is written over it.
func TestConfigSetConflict(t *testing.T) {
	e := newEnv(t)
	e.putConfig(testConfig)
	other := `{"Network":"10.244.0.0/16","SubnetMax":"10.244.100.0","Backend":{"Type":"vxlan"}}`
	testHookBeforeConfigPut = func() { e.putConfig(other) }
	t.Cleanup(func() { testHookBeforeConfigPut = nil })
	conf := writeFile(t, "c.json", `{"Network":"10.244.0.0/16","SubnetMax":"10.244.50.0","Backend":{"Type":"vxlan"}}`)
	e.wantFail([]string{"network config changed since it was read", "nothing written, run the command again"}, "config", "set", "-f", conf)
	if got := e.storedConfig(); got != other {
		t.Errorf("stored %q, want the other writer's %q", got, other)
	}
}
