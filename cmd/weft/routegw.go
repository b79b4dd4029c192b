// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"encoding/json"
	"net/netip"
)

// withRouteGateways names the gateway of every IPAM route that has none,
// when the delegate is bridge with host-local IPAM.
//
// bridge installs a route without "gw" via the range's gateway anyway, so
// the kernel holds "10.244.0.0/16 via 10.244.3.1". The result, though,
// carries the route as IPAM returned it, without a gateway, and bridge v1.1.1's
// CHECK (what Debian 12 ships) compares the two literally and fails ("Expected Route
// {Dst:10.244.0.0/16 GW:<nil>} not found in routing table"). With the
// gateway named, result and kernel agree for every bridge version. The
// gateway is host-local's: the range's "gateway", else the first address
// of its subnet. A config weft cannot read this way is returned unchanged:
// the delegate reports what is wrong with it.
func withRouteGateways(conf []byte) []byte {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(conf, &top); err != nil {
		return conf
	}
	var d delegateInfo
	if json.Unmarshal(conf, &d) != nil || d.Type != defaultDelegateType || d.IPAM.Type != defaultIPAMType {
		return conf
	}
	var ipam map[string]json.RawMessage
	if json.Unmarshal(top["ipam"], &ipam) != nil {
		return conf
	}
	var ranges []hostLocalRangeSet
	var routes []map[string]json.RawMessage
	if json.Unmarshal(ipam["ranges"], &ranges) != nil || json.Unmarshal(ipam["routes"], &routes) != nil {
		return conf
	}
	gw4, gw6 := rangeGateways(ranges)
	changed := false
	for _, r := range routes {
		var dst netip.Prefix
		if _, hasGW := r["gw"]; hasGW || json.Unmarshal(r["dst"], &dst) != nil || !dst.IsValid() {
			continue
		}
		gw := gw4
		if dst.Addr().Is6() {
			gw = gw6
		}
		if gw.IsValid() {
			r["gw"] = jsonString(gw.String())
			changed = true
		}
	}
	if !changed {
		return conf
	}
	var err error
	if ipam["routes"], err = json.Marshal(routes); err != nil {
		return conf
	}
	if top["ipam"], err = json.Marshal(ipam); err != nil {
		return conf
	}
	b, err := json.Marshal(top)
	if err != nil {
		return conf
	}
	return b
}

// hostLocalRangeSet is one set of host-local's "ranges".
type hostLocalRangeSet []struct {
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
}

// rangeGateways returns each family's gateway as host-local hands it out:
// the first range of each set gives its family's gateway (host-local names
// the gateway of the range it allocated from, and all ranges of a set share
// a family), its "gateway" or else the first address of its subnet.
func rangeGateways(ranges []hostLocalRangeSet) (gw4, gw6 netip.Addr) {
	for _, set := range ranges {
		if len(set) == 0 || !set[0].Subnet.IsValid() {
			continue
		}
		gw := set[0].Gateway
		if !gw.IsValid() {
			gw = set[0].Subnet.Masked().Addr().Next()
		}
		if gw.Is4() && !gw4.IsValid() {
			gw4 = gw
		} else if gw.Is6() && !gw6.IsValid() {
			gw6 = gw
		}
	}
	return gw4, gw6
}
