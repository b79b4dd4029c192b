// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package dataplanetest

import (
	"net/netip"
	"testing"

	"github.com/weft-net/weft/backend/dataplane"
)

// NewFakeHarness returns a fake with an underlay "eth0" like the one the
// netlinkdp harness builds in a namespace.
func newFakeHarness(t *testing.T) Harness {
	f := NewFake()
	i := f.AddLink(dataplane.Link{Name: "eth0", Kind: "veth", MTU: 1500, Up: true, Addrs: []netip.Prefix{UnderlayAddr, UnderlayAddr6}})
	l, err := f.LinkByName("eth0")
	if err != nil || l.Index != i {
		t.Fatalf("fake underlay: %+v, %v", l, err)
	}
	return Harness{DP: f, Underlay: l}
}

func TestFakeConformance(t *testing.T) {
	RunConformance(t, newFakeHarness)
}
