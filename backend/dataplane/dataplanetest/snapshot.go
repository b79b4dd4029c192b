// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package dataplanetest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/weft-net/weft/backend/dataplane"
)

// Snapshot renders what weft programs in a dataplane as sorted lines, the
// same for the fake and for a real namespace:
//
//	link flannel.1 vxlan vni 1 port 8472 local 198.18.0.1 dev eth0 mtu 1450 mac 02:… up
//	addr flannel.1 10.244.1.0/32
//	neigh flannel.1 10.244.2.0 lladdr 02:…
//	fdb flannel.1 02:… dst 198.18.0.2
//	route 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink proto 87 metric 183763456
//
// Only VXLAN links and what is on them appear, link-local addresses are
// left out, and of the routes only those not added by the kernel itself.
func Snapshot(dp dataplane.Dataplane) (string, error) {
	links, err := dp.Links()
	if err != nil {
		return "", err
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Index] = l.Name
	}
	name := func(i int) string {
		if n, ok := names[i]; ok {
			return n
		}
		return "if" + strconv.Itoa(i)
	}
	var lines []string
	for _, l := range links {
		if l.VXLAN == nil {
			continue
		}
		more, err := vxlanLines(dp, l, name)
		if err != nil {
			return "", err
		}
		lines = append(lines, more...)
	}
	for _, fam := range []dataplane.Family{dataplane.IPv4, dataplane.IPv6} {
		rs, err := dp.Routes(fam)
		if err != nil {
			return "", err
		}
		for _, r := range rs {
			if r.Protocol != dataplane.RTProtoKernel {
				lines = append(lines, "route "+routeText(r, name))
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n", nil
}

func vxlanLines(dp dataplane.Dataplane, l dataplane.Link, name func(int) string) ([]string, error) {
	v := l.VXLAN
	up := "down"
	if l.Up {
		up = "up"
	}
	lines := []string{fmt.Sprintf("link %s vxlan vni %d port %d local %s dev %s mtu %d mac %s %s learning %t gbp %t",
		l.Name, v.VNI, v.Port, v.Local, name(v.UnderlayIndex), l.MTU, l.MAC, up, v.Learning, v.GBP)}
	addrs, err := dp.Addrs(l.Index)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if !a.Addr().IsLinkLocalUnicast() {
			lines = append(lines, fmt.Sprintf("addr %s %s", l.Name, a))
		}
	}
	ns, err := dp.Neighs(l.Index)
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		lines = append(lines, fmt.Sprintf("neigh %s %s lladdr %s", l.Name, n.IP, n.MAC))
	}
	fdb, err := dp.FDB(l.Index)
	if err != nil {
		return nil, err
	}
	for _, e := range fdb {
		lines = append(lines, fmt.Sprintf("fdb %s %s dst %s", l.Name, e.MAC, e.Dst))
	}
	return lines, nil
}

// routeText renders a route as in `ip route`, naming links with name.
func routeText(r dataplane.Route, name func(int) string) string {
	var b strings.Builder
	b.WriteString(r.Dst.String())
	if r.Gw.IsValid() {
		b.WriteString(" via " + r.Gw.String())
	}
	b.WriteString(" dev " + name(r.LinkIndex))
	if r.OnLink {
		b.WriteString(" onlink")
	}
	b.WriteString(" proto " + strconv.Itoa(int(r.Protocol)))
	if r.Metric != 0 {
		b.WriteString(" metric " + strconv.FormatUint(uint64(r.Metric), 10))
	}
	return b.String()
}
