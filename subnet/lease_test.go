// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

func TestSubnetKeyRoundTrip(t *testing.T) {
	tests := []struct {
		key    string
		v4, v6 string
	}{
		{"10.244.3.0-24", "10.244.3.0/24", ""},
		{"10.244.3.0-24&fc00:0:0:3::-64", "10.244.3.0/24", "fc00:0:0:3::/64"},
	}
	for _, tt := range tests {
		sn, sn6, err := ParseSubnetKey(tt.key)
		if err != nil {
			t.Fatalf("ParseSubnetKey(%q): %v", tt.key, err)
		}
		if sn.String() != tt.v4 || (tt.v6 != "" && sn6.String() != tt.v6) || (tt.v6 == "" && sn6.IsValid()) {
			t.Errorf("ParseSubnetKey(%q) = %s, %s", tt.key, sn, sn6)
		}
		// netip prints fc00:0:0:3:: as fc00:0:0:3::, flannel's form too.
		if got := SubnetKey(sn, sn6); got != tt.key {
			t.Errorf("SubnetKey = %q, want %q", got, tt.key)
		}
	}
}

func TestParseSubnetKeyErrors(t *testing.T) {
	for _, k := range []string{"", "10.244.3.0", "10.244.3.0-33", "10.244.3.1-24", "fd00::-64", "10.244.3.0-24&10.0.0.0-8", "x-24"} {
		if _, _, err := ParseSubnetKey(k); err == nil {
			t.Errorf("ParseSubnetKey(%q) accepted", k)
		}
	}
}

func TestLeaseAttrsFlannelFormat(t *testing.T) {
	// Exactly what flanneld writes.
	in := `{"PublicIP":"198.18.0.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"2e:4f:6a:01:02:03"}}`
	var a LeaseAttrs
	if err := json.Unmarshal([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	if a.PublicIP != netip.MustParseAddr("198.18.0.3") || a.PublicIPv6.IsValid() || a.BackendType != "vxlan" {
		t.Fatalf("decoded %+v", a)
	}
	d, err := DecodeVXLANData(a.BackendData)
	if err != nil || d.VNI != 1 || d.VtepMAC.String() != "2e:4f:6a:01:02:03" {
		t.Fatalf("backend data %+v, %v", d, err)
	}
	out, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("re-encoded\n%s\nwant\n%s", out, in)
	}
	b, _ := json.Marshal(VXLANData{VNI: 1, VtepMAC: d.VtepMAC})
	if string(b) != `{"VNI":1,"VtepMAC":"2e:4f:6a:01:02:03"}` {
		t.Errorf("VXLANData encodes as %s", b)
	}
}

func TestLeaseAttrsDualStack(t *testing.T) {
	a := LeaseAttrs{
		PublicIP: netip.MustParseAddr("198.18.0.3"), PublicIPv6: netip.MustParseAddr("2001:db8:18::3"),
		BackendType: "vxlan", BackendData: json.RawMessage(`{"VNI":1,"VtepMAC":"2e:00:00:00:00:01"}`),
		BackendV6Data: json.RawMessage(`{"VNI":1,"VtepMAC":"2e:00:00:00:00:02"}`),
	}
	b, _ := json.Marshal(a)
	var back LeaseAttrs
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.PublicIPv6 != a.PublicIPv6 || string(back.BackendV6Data) != string(a.BackendV6Data) {
		t.Errorf("round trip %s -> %+v", b, back)
	}
}

func TestLeaseAttrsErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"PublicIP":"nope"}`:                              `PublicIP "nope"`,
		`{"PublicIP":"198.18.0.1","PublicIPv6":"1.2.3.4"}`: `PublicIPv6 "1.2.3.4"`,
		`[1]`: "not valid JSON",
	} {
		var a LeaseAttrs
		err := json.Unmarshal([]byte(in), &a)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", in, err, want)
		}
	}
	if _, err := DecodeVXLANData(json.RawMessage(`{"VtepMAC":"zz"}`)); err == nil {
		t.Error("bad VtepMAC accepted")
	}
}

func FuzzParseSubnetKey(f *testing.F) {
	f.Add("10.244.3.0-24")
	f.Add("10.244.3.0-24&fc00:0:0:3::-64")
	f.Fuzz(func(t *testing.T, key string) {
		sn, sn6, err := ParseSubnetKey(key)
		if err != nil {
			return
		}
		if got := SubnetKey(sn, sn6); got != key {
			// Non-canonical spellings (e.g. leading zeros) may parse; they must re-parse identically.
			sn2, sn62, err := ParseSubnetKey(got)
			if err != nil || sn2 != sn || sn62 != sn6 {
				t.Fatalf("key %q -> %q does not round-trip", key, got)
			}
		}
	})
}
