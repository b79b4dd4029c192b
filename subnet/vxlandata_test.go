// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestDecodeVXLANDataFast: the fast reader of flannel's BackendData agrees
// with encoding/json on every input, and takes the fast path on the format
// flannel and weft write.
func TestDecodeVXLANDataFast(t *testing.T) {
	inputs := []string{
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
		inputs = append(inputs, fmt.Sprintf(`{"VNI":%d,"VtepMAC":"%s"}`, i*14327, MAC{byte(i), byte(i * 7), 0x0e, byte(i >> 3), 0xa0, byte(i * 31)}))
	}
	for _, in := range inputs {
		want, wantErr := decodeVXLANJSON(json.RawMessage(in))
		got, err := DecodeVXLANData([]byte(in))
		if (err != nil) != (wantErr != nil) || (err == nil && got != want) {
			t.Errorf("DecodeVXLANData(%s) = %+v, %v; encoding/json: %+v, %v", in, got, err, want, wantErr)
		}
		if _, fast := fastVXLANData([]byte(in)); fast && wantErr != nil {
			t.Errorf("fast path took %s, which DecodeVXLANData rejects: %v", in, wantErr)
		}
	}
	if _, fast := fastVXLANData([]byte(inputs[0])); !fast {
		t.Errorf("fast path refused flannel's format %s", inputs[0])
	}
}
