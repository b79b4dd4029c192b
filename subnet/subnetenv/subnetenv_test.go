// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnetenv

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReadGolden(t *testing.T) {
	e := Env{
		Networks:    []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		Subnet:      GatewayPrefix(netip.MustParsePrefix("10.244.3.0/24")),
		IPv6Network: netip.MustParsePrefix("fd00:10:244::/48"),
		IPv6Subnet:  GatewayPrefix(netip.MustParsePrefix("fd00:10:244:3::/64")),
		MTU:         1450,
		IPMasq:      true,
	}
	path := filepath.Join(t.TempDir(), "run", "subnet.env")
	if err := Write(path, e); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	// The exact lines of compat.md, in flannel's order.
	want := "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/48\n" +
		"FLANNEL_IPV6_SUBNET=fd00:10:244:3::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"
	if string(b) != want {
		t.Errorf("file:\n%s\nwant:\n%s", b, want)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subnet != e.Subnet || got.IPv6Subnet != e.IPv6Subnet || got.MTU != 1450 || !got.IPMasq || got.Networks[0] != e.Networks[0] {
		t.Errorf("read back %+v", got)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("temp files left behind: %v", ents)
	}
}

// flanneld's own output, including its comma-list network form.
func TestReadFlannelFile(t *testing.T) {
	in := "FLANNEL_NETWORK=10.244.0.0/16,10.245.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=8951\nFLANNEL_IPMASQ=false\n"
	e, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Networks) != 2 || e.Subnet.String() != "10.244.7.1/24" || e.MTU != 8951 || e.IPMasq {
		t.Errorf("parsed %+v", e)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"FLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=abc\n", `line 2 "FLANNEL_MTU=abc": FLANNEL_MTU "abc"`},
		{"FLANNEL_SUBNET=10.244.7.1/24\ngarbage\nFLANNEL_MTU=1450\n", `line 2 "garbage": want KEY=value`},
		{"FLANNEL_SUBNET=10.244.7.1\nFLANNEL_MTU=1450\n", `line 1 "FLANNEL_SUBNET=10.244.7.1": FLANNEL_SUBNET "10.244.7.1": not a CIDR`},
		{"FLANNEL_MTU=1450\n", "FLANNEL_SUBNET missing"},
		{"FLANNEL_SUBNET=10.244.7.1/24\n", "FLANNEL_MTU missing"},
		{"FLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=yes please\n", "FLANNEL_IPMASQ"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestReadMissingAndBadFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Read(filepath.Join(dir, "nope.env"))
	if !errors.Is(err, ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.env")
	_ = os.WriteFile(bad, []byte("FLANNEL_SUBNET=x\n"), 0o644)
	_, err = Read(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad file error %v should name the file and line", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			return
		}
		e2, err := Parse(e.Marshal())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", e.Marshal(), err)
		}
		if string(e2.Marshal()) != string(e.Marshal()) {
			t.Fatalf("not stable: %q vs %q", e.Marshal(), e2.Marshal())
		}
	})
}
