// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"encoding/json"
	"fmt"
	"testing"
)

// vxlanDataSeeds are the fuzz corpus's seeds: flannel's exact format and
// the near misses of each of its parts (order, spacing, case, number
// range, MAC form, trailing fields, truncation).
func vxlanDataSeeds() []string {
	seeds := []string{
		`{"VNI":1,"VtepMAC":"0e:57:00:00:13:88"}`,
		`{"VNI":4294967295,"VtepMAC":"AA:bb:CC:dd:EE:ff"}`,
		`{"VNI":4294967296,"VtepMAC":"aa:bb:cc:dd:ee:ff"}`,
		`{"VNI":01,"VtepMAC":"aa:bb:cc:dd:ee:ff"}`,
		`{"VNI":-1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}`,
		`{"VNI":1, "VtepMAC":"aa:bb:cc:dd:ee:ff"}`,
		`{"vni":1,"vtepmac":"aa:bb:cc:dd:ee:ff"}`,
		`{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee"}`,
		`{"VNI":1,"VtepMAC":"aa-bb-cc-dd-ee-ff"}`,
		`{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:fg"}`,
		`{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff","X":1}`,
		`{"VtepMAC":"aa:bb:cc:dd:ee:ff","VNI":1}`,
		`{"VNI":1,"VtepMAC":"00:00:00:00:00:00"}`,
		`{"VNI":1}`,
		`{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"`,
		`{"VNI":1,"VtepMAC":null}`,
		`null`,
		``,
	}
	for i := range 300 {
		seeds = append(seeds, fmt.Sprintf(`{"VNI":%d,"VtepMAC":"%s"}`, i*14327, MAC{byte(i), byte(i * 7), 0x0e, byte(i >> 3), 0xa0, byte(i * 31)}))
	}
	return seeds
}

// FuzzVXLANData: the fast reader of flannel's BackendData agrees with
// encoding/json on every input, and takes the fast path only for inputs
// encoding/json accepts. `go test` runs the seeds; `go test -fuzz
// FuzzVXLANData ./subnet/` searches further.
func FuzzVXLANData(f *testing.F) {
	for _, s := range vxlanDataSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, wantErr := decodeVXLANJSON(json.RawMessage(in))
		got, err := DecodeVXLANData(in)
		if (err != nil) != (wantErr != nil) || (err == nil && got != want) {
			t.Errorf("DecodeVXLANData(%q) = %+v, %v; encoding/json: %+v, %v", in, got, err, want, wantErr)
		}
		if d, fast := fastVXLANData(in); fast && (wantErr != nil || d != want) {
			t.Errorf("fast path took %q as %+v; encoding/json: %+v, %v", in, d, want, wantErr)
		}
	})
}

// TestVXLANDataFastPath: flannel's and weft's own format takes the fast
// path (the fuzz target only checks that the fast path is never wrong).
func TestVXLANDataFastPath(t *testing.T) {
	if _, fast := fastVXLANData([]byte(vxlanDataSeeds()[0])); !fast {
		t.Errorf("fast path refused flannel's format %s", vxlanDataSeeds()[0])
	}
}
