// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"fmt"
	"net/netip"
)

// Route forms for iproute2 batch files (benchmark floors, switch-over
// set-ups): weft's route to a peer subnet on flannel.1 as it is now, and as
// weft installed it before the per-peer metric (metric 0).
const (
	formMetric = iota // proto 87, metric RouteMetric(subnet)
	formOld           // proto 87, metric 0: weft before the metric
)

// ipRouteLines returns the `ip -batch` lines that add and delete weft's
// route to sn in form f; a delete names the metric, as weft's does.
func ipRouteLines(sn netip.Prefix, f int) (add, del string) {
	add = fmt.Sprintf("route replace %s via %s dev flannel.1 onlink proto 87", sn, sn.Addr())
	del = fmt.Sprintf("route del %s dev flannel.1 proto 87", sn)
	if f == formMetric {
		m := fmt.Sprintf(" metric %d", RouteMetric(sn))
		add, del = add+m, del+m
	}
	return add + "\n", del + "\n"
}
