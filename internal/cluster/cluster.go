// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package cluster builds a multi-node weft cluster out of network namespaces
// on one machine: an underlay bridge in its own namespace, node namespaces
// attached to it by veth (198.18.0.N/24), etcd as its own process inside its
// own namespace (one member, or three), a real weftd process per node, and
// pods created through libcni with the dist conflist. The e2e tests, `weft-demo`
// (make demo) and the cluster benchmarks share it, so it takes no testing.T.
//
// Nothing is created in the root network namespace, and Close removes every
// namespace and kills every process the cluster started (only those), also
// after a failure half-way through New.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/weft-net/weft/internal/netns"
)

// DefaultNetConf is the network config the cluster writes to etcd.
const DefaultNetConf = `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`

// Options shape a cluster. Zero values get the defaults noted.
type Options struct {
	Nodes       int    // default 3
	EtcdMembers int    // 1 (default) or 3
	BinDir      string // directory of weftd, weft, weftctl and weft-demo, whose etcd-server runs etcd (required)
	CNIPath     string // directory of bridge, host-local, portmap, loopback (required for pods)
	ConfList    string // CNI conflist to load (default <BinDir>/../dist/cni/10-weft.conflist)
	NetConf     string // network config JSON (default DefaultNetConf)
	Prefix      string // etcd prefix (default /coreos.com/network)
	WeftdArgs   []string
	// NoWeftd leaves the nodes without a daemon; call Node.StartWeftd.
	NoWeftd bool
	// DualStack also gives every underlay interface an IPv6 address
	// (2001:db8:18::N/64); pair it with an IPv6Network in NetConf.
	DualStack bool
	// Dir holds logs, subnet files and CNI state (default: a new temp dir, removed by Close).
	Dir  string
	Logf func(format string, args ...any) // progress lines; nil is silent
}

// Cluster is a running topology. Its methods are safe for concurrent use
// unless noted.
type Cluster struct {
	opts     Options
	id       string
	Underlay string // namespace holding the bridge
	Etcd     []*EtcdMember
	Nodes    []*Node
	ownDir   bool

	mu  sync.Mutex
	nss []string // namespaces to delete, in creation order
}

const underlayBridge = "br0"

// New builds the topology and, unless opts.NoWeftd, starts weftd on every node
// and waits for each to be ready. On error everything created is removed.
func New(ctx context.Context, opts Options) (c *Cluster, err error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	c = &Cluster{opts: opts, id: randHex(3)}
	if c.opts.Dir == "" {
		d, err := os.MkdirTemp("", "weft-cluster-")
		if err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		c.opts.Dir, c.ownDir = d, true
	}
	defer func() {
		if err != nil {
			_ = c.Close()
			c = nil
		}
	}()
	if err := c.buildUnderlay(); err != nil {
		return nil, err
	}
	if err := c.startEtcd(ctx); err != nil {
		return nil, err
	}
	for i := 1; i <= opts.Nodes; i++ {
		if _, err := c.addNode(i); err != nil {
			return nil, err
		}
	}
	if err := c.PutNetConf(ctx, opts.NetConf); err != nil {
		return nil, err
	}
	if !opts.NoWeftd {
		if err := c.startAllWeftd(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// setDefaults fills in the options left zero and checks the others.
func (o *Options) setDefaults() error {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.EtcdMembers == 0 {
		o.EtcdMembers = 1
	}
	if o.EtcdMembers != 1 && o.EtcdMembers != 3 {
		return fmt.Errorf("cluster: EtcdMembers %d: want 1 or 3", o.EtcdMembers)
	}
	if o.Nodes > 200 {
		return fmt.Errorf("cluster: Nodes %d: at most 200", o.Nodes)
	}
	if o.BinDir == "" {
		return errors.New("cluster: BinDir is required")
	}
	if o.NetConf == "" {
		o.NetConf = DefaultNetConf
	}
	if o.Prefix == "" {
		o.Prefix = "/coreos.com/network"
	}
	if o.ConfList == "" {
		o.ConfList = filepath.Join(o.BinDir, "..", "dist", "cni", "10-weft.conflist")
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return nil
}

// startAllWeftd starts weftd on every node at once, then waits for each to
// be ready.
func (c *Cluster) startAllWeftd(ctx context.Context) error {
	for _, n := range c.Nodes {
		if err := n.StartWeftd(); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes {
		if err := n.WaitReady(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Dir is the cluster's state directory.
func (c *Cluster) Dir() string { return c.opts.Dir }

// Prefix is the etcd prefix in use.
func (c *Cluster) Prefix() string { return c.opts.Prefix }

func (c *Cluster) nsName(suffix string) string { return "weft" + c.id + "-" + suffix }

func (c *Cluster) newNS(suffix string) (string, error) {
	name := c.nsName(suffix)
	if err := netns.Create(name); err != nil {
		return "", fmt.Errorf("cluster: %w", err)
	}
	c.mu.Lock()
	c.nss = append(c.nss, name)
	c.mu.Unlock()
	return name, nil
}

func (c *Cluster) buildUnderlay() error {
	ns, err := c.newNS("ul")
	if err != nil {
		return err
	}
	c.Underlay = ns
	for _, args := range [][]string{
		{"ip", "link", "add", underlayBridge, "type", "bridge"},
		{"ip", "link", "set", underlayBridge, "up"},
	} {
		if _, err := netns.Exec(ns, args...); err != nil {
			return fmt.Errorf("cluster: underlay: %w", err)
		}
	}
	c.opts.Logf("underlay bridge %s in namespace %s", underlayBridge, ns)
	return nil
}

// attach creates namespace <suffix>, connects it to the underlay bridge with a
// veth (eth0 inside) and gives eth0 the address ip/24.
func (c *Cluster) attach(suffix string, ip netip.Addr) (string, error) {
	ns, err := c.newNS(suffix)
	if err != nil {
		return "", err
	}
	port := "v-" + suffix // the bridge-side end, in the underlay namespace
	steps := [][]string{
		// eth0 keeps one MAC per address, as a machine keeps its NIC's
		// across a reboot (Node.Reboot): with a new one, the other nodes'
		// ARP entries for the address would point at a MAC that is gone
		// until they expire and re-resolve (about 30 s of loss).
		{c.Underlay, "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "address", underlayMAC(ip), "netns", ns},
		{c.Underlay, "ip", "link", "set", port, "master", underlayBridge, "up"},
		{ns, "ip", "addr", "add", ip.String() + "/24", "dev", "eth0"},
		{ns, "ip", "link", "set", "eth0", "up"},
		// A default route makes eth0 the interface weftd picks by default, as on a real node.
		{ns, "ip", "route", "add", "default", "via", "198.18.0.250", "dev", "eth0", "onlink"},
	}
	if c.opts.DualStack {
		steps = append(steps, []string{ns, "ip", "-6", "addr", "add", NodeIPv6(ip).String() + "/64", "dev", "eth0", "nodad"})
	}
	for _, s := range steps {
		if _, err := netns.Exec(s[0], s[1:]...); err != nil {
			return "", fmt.Errorf("cluster: attach %s: %w", suffix, err)
		}
	}
	return ns, nil
}

// underlayMAC is the locally administered MAC of the eth0 with address
// ip: 02:c6:12 (198.18) and the address's last three bytes.
func underlayMAC(ip netip.Addr) string {
	b := ip.As4()
	return fmt.Sprintf("02:c6:12:%02x:%02x:%02x", b[1], b[2], b[3])
}

// NodeIPv6 returns the IPv6 underlay address paired with an IPv4 one:
// 198.18.0.N ↔ 2001:db8:18::N.
func NodeIPv6(ip4 netip.Addr) netip.Addr {
	b := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x18}
	b[15] = ip4.As4()[3]
	return netip.AddrFrom16(b)
}

// NodeIP returns the underlay address of node i (1-based).
func NodeIP(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}) }

// EtcdIP returns the address of etcd member i (0-based): 198.18.0.254, .253, .252.
func EtcdIP(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(254 - i)}) }

// Close stops every process and deletes every namespace the cluster made.
// It is safe to call more than once.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.Nodes {
		n.closeAll()
	}
	for _, m := range c.Etcd {
		m.Kill()
	}
	c.mu.Lock()
	nss := c.nss
	c.nss = nil
	c.mu.Unlock()
	for i := len(nss) - 1; i >= 0; i-- {
		if err := netns.Delete(nss[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ownDir && os.Getenv("WEFT_KEEP_CLUSTER_DIR") == "" {
		_ = os.RemoveAll(c.opts.Dir)
	}
	return errors.Join(errs...)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
