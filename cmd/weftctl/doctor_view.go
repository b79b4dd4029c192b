// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/vxlan"
	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/subnetenv"
)

// nodeView is everything doctor knows about the node: etcd's view, the
// subnet file and the kernel's tables. The checks are pure over it.
type nodeView struct {
	flags  doctorFlags
	cfg    *subnet.Config
	leases []subnet.Lease
	env    subnetenv.Env
	envErr error

	links   []dataplane.Link
	byIndex map[int]dataplane.Link
	fams    []*famView // IPv4, then IPv6 in dual stack
	routes  map[dataplane.Family][]dataplane.Route

	publicIP netip.Addr // flag, else the IPv4 device's local address
	own      *subnet.Lease
	ttl      time.Duration
	ttlErr   error

	findings []finding
	admitted int // peers: admitted leases that carry backend data
}

// famView is one address family's device and its entries.
type famView struct {
	fam      dataplane.Family
	name     string // flannel.<VNI> or flannel-v6.<VNI>
	overhead int
	dev      *dataplane.Link // nil when missing
	neighs   []dataplane.Neigh
	fdb      []dataplane.FDBEntry
}

func (v *nodeView) add(f finding) { v.findings = append(v.findings, f) }

func (v *nodeView) readKernel(dp dataplane.Dataplane) error {
	var err error
	if v.links, err = dp.Links(); err != nil {
		return err
	}
	v.byIndex = make(map[int]dataplane.Link, len(v.links))
	for _, l := range v.links {
		v.byIndex[l.Index] = l
	}
	v.fams = []*famView{{fam: dataplane.IPv4, name: vxlan.DeviceName(v.cfg.Backend.VNI), overhead: 50}}
	if v.cfg.EnableIPv6 {
		v.fams = append(v.fams, &famView{fam: dataplane.IPv6, name: vxlan.DeviceNameV6(v.cfg.Backend.VNI), overhead: 70})
	}
	v.routes = map[dataplane.Family][]dataplane.Route{}
	for _, fv := range v.fams {
		if v.routes[fv.fam], err = dp.Routes(fv.fam); err != nil {
			return err
		}
		l, err := dp.LinkByName(fv.name)
		if errors.Is(err, dataplane.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		l = v.byIndex[l.Index]
		fv.dev = &l
		if fv.neighs, err = dp.Neighs(l.Index); err != nil {
			return err
		}
		if fv.fdb, err = dp.FDB(l.Index); err != nil {
			return err
		}
	}
	return nil
}

// findOwn finds our lease: by --public-ip, else by the IPv4 device's local
// address, else by the subnet in subnet.env.
func (v *nodeView) findOwn() {
	v.publicIP = v.flags.publicIP
	if d := v.fams[0].dev; !v.publicIP.IsValid() && d != nil && d.VXLAN != nil {
		v.publicIP = d.VXLAN.Local
	}
	var bySubnet *subnet.Lease
	var byIP []*subnet.Lease
	for i := range v.leases {
		l := &v.leases[i]
		if v.envErr == nil && v.env.Subnet.IsValid() && l.Subnet == v.env.Subnet.Masked() {
			bySubnet = l
		}
		if v.publicIP.IsValid() && l.Attrs.PublicIP == v.publicIP {
			byIP = append(byIP, l)
		}
	}
	switch {
	case len(byIP) > 0:
		// With duplicates (reported by checkLeases), prefer the one subnet.env names.
		v.own = byIP[0]
		for _, l := range byIP {
			if l == bySubnet {
				v.own = l
			}
		}
	case !v.publicIP.IsValid():
		v.own = bySubnet
	}
}

// linkName names a link index for messages and fixes.
func (v *nodeView) linkName(index int) string {
	if l, ok := v.byIndex[index]; ok {
		return l.Name
	}
	return "#" + strconv.Itoa(index)
}

func (v *nodeView) check() {
	v.checkLeases()
	v.checkOwn()
	v.checkEnv()
	var usable []*famView
	for _, fv := range v.fams {
		if v.checkDevice(fv) {
			usable = append(usable, fv)
		}
	}
	v.checkEntries(usable)
}

// doctorReport is doctor's output.
type doctorReport struct {
	Healthy  bool       `json:"healthy"`
	Node     nodeReport `json:"node"`
	Findings []finding  `json:"findings"`
}

type nodeReport struct {
	PublicIP    string `json:"publicIP,omitempty"`
	Subnet      string `json:"subnet,omitempty"`
	IPv6Subnet  string `json:"ipv6Subnet,omitempty"`
	EtcdLeaseID string `json:"etcdLeaseID,omitempty"`
	ExpiresIn   string `json:"expiresIn,omitempty"`
	Device      string `json:"device,omitempty"`
	Peers       int    `json:"peers"`
	Leases      int    `json:"leases"`
}

func (v *nodeView) report() doctorReport {
	r := doctorReport{Healthy: len(v.findings) == 0, Findings: v.findings, Node: nodeReport{
		PublicIP: addrText(v.publicIP), Leases: len(v.leases),
	}}
	if r.Findings == nil {
		r.Findings = []finding{}
	}
	if len(v.fams) > 0 && v.fams[0].dev != nil {
		r.Node.Device = v.fams[0].name
	}
	if v.own != nil {
		r.Node.Subnet = v.own.Subnet.String()
		if v.own.IPv6Subnet.IsValid() {
			r.Node.IPv6Subnet = v.own.IPv6Subnet.String()
		}
		r.Node.EtcdLeaseID = leaseIDString(v.own.LeaseID)
		r.Node.Peers = v.admitted
		switch {
		case v.own.Reserved():
			r.Node.ExpiresIn = expiresReserved
		case v.ttlErr != nil:
			r.Node.ExpiresIn = expiresExpired
		default:
			r.Node.ExpiresIn = v.ttl.String()
		}
	}
	return r
}
