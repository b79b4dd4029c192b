// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/internal/poll"
	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
	"github.com/weft-net/weft/subnet/etcd/etcdtest"
	"github.com/weft-net/weft/subnet/subnetenv"
)

// These tests run the daemon logic inside the test process: etcd is an
// embedded server on 127.0.0.1 (root namespace, loopback only), and every
// kernel change goes, through --netns, into namespaces the test creates.

const (
	prefix  = "/coreos.com/network"
	netConf = `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`
)

// underlay is a bridge namespace that node namespaces attach to.
type underlay struct {
	t  *testing.T
	ns *nstest.NS
}

func newUnderlay(t *testing.T) *underlay {
	ul := &underlay{t: t, ns: nstest.New(t)}
	ul.ns.MustRun(t, "ip", "link", "add", "br0", "type", "bridge")
	ul.ns.MustRun(t, "ip", "link", "set", "br0", "up")
	return ul
}

// attach makes a node namespace with eth0 = ip/24 on the bridge.
func (u *underlay) attach(i int) (*nstest.NS, netip.Addr) {
	ns := nstest.New(u.t)
	ip := netip.AddrFrom4([4]byte{198, 18, 0, byte(i)})
	u.plug(ns, i, ip)
	return ns, ip
}

func (u *underlay) plug(ns *nstest.NS, i int, ip netip.Addr) {
	port := fmt.Sprintf("p%d", i)
	nstest.Veth(u.t, u.ns, port, ns, "eth0")
	u.ns.MustRun(u.t, "ip", "link", "set", port, "master", "br0", "up")
	ns.MustRun(u.t, "ip", "addr", "add", ip.String()+"/24", "dev", "eth0")
	ns.MustRun(u.t, "ip", "link", "set", "eth0", "up")
}

type testNode struct {
	t       *testing.T
	ns      *nstest.NS
	ip      netip.Addr
	opts    Options
	healthz string
	cancel  context.CancelFunc
	done    chan error
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newNode(t *testing.T, e *etcdtest.Server, ns *nstest.NS, ip netip.Addr) *testNode {
	h := freeAddr(t)
	n := &testNode{t: t, ns: ns, ip: ip, healthz: h, opts: Options{
		Etcd: etcd.ClientConfig{Endpoints: e.Endpoints()}, EtcdPrefix: prefix, Ifaces: []string{"eth0"},
		SubnetFile: filepath.Join(t.TempDir(), "subnet.env"), LeaseTTL: time.Hour, RenewMargin: time.Minute,
		ForwardRules: true, ResyncInterval: 2 * time.Second, HealthzAddr: h, MetricsAddr: h, NetNS: ns.Path(),
	}}
	return n
}

func (n *testNode) start() {
	n.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	log := logrus.New()
	log.SetOutput(io.Discard)
	if testing.Verbose() {
		log.SetOutput(&testWriter{n.t, n.ip.String()})
		log.SetLevel(logrus.DebugLevel)
	}
	go func() { n.done <- Run(ctx, n.opts, log) }()
	n.t.Cleanup(n.stop)
	n.waitReady()
}

type testWriter struct {
	t    *testing.T
	name string
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Logf("[%s] %s", w.name, strings.TrimSpace(string(p)))
	return len(p), nil
}

// stop cancels the daemon (as SIGTERM does) and returns what Run returned.
func (n *testNode) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			n.t.Errorf("node %s: Run returned %v on stop", n.ip, err)
		}
	case <-time.After(30 * time.Second):
		n.t.Errorf("node %s: Run did not return within 30s of cancel", n.ip)
	}
	n.cancel = nil
}

func (n *testNode) get(path string) (int, string) {
	resp, err := http.Get("http://" + n.healthz + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (n *testNode) waitReady() {
	n.t.Helper()
	poll.Until(n.t, 60*time.Second, "node "+n.ip.String()+" ready", func() (bool, string) {
		select {
		case err := <-n.done:
			n.t.Fatalf("node %s: Run returned early: %v", n.ip, err)
		default:
		}
		code, body := n.get("/readyz")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
}

func (n *testNode) subnet() netip.Prefix {
	n.t.Helper()
	e, err := subnetenv.Read(n.opts.SubnetFile)
	if err != nil {
		n.t.Fatal(err)
	}
	return e.Subnet.Masked()
}

// hasRoute reports whether the node's kernel routes sn via flannel.1.
func (n *testNode) hasRoute(sn netip.Prefix) bool {
	out, err := n.ns.Run("ip", "-4", "route", "show", sn.String())
	return err == nil && strings.Contains(out, "dev flannel.1")
}

func startEtcd(t *testing.T, conf string) *etcdtest.Server {
	e := etcdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.Client(t).Put(ctx, prefix+"/config", conf); err != nil {
		t.Fatal(err)
	}
	return e
}

// udpOverlay sends a datagram from a's overlay address to b's and reports
// whether it arrived, sockets opened inside the node namespaces.
func udpOverlay(t *testing.T, a, b *testNode) error {
	src, dst := a.subnet().Addr(), b.subnet().Addr()
	var ln *net.UDPConn
	if err := b.ns.Do(func() (err error) {
		ln, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 7777)))
		return err
	}); err != nil {
		return err
	}
	defer ln.Close()
	for try := 0; try < 10; try++ {
		if err := a.ns.Do(func() error {
			c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)),
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 7777)))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("over the overlay"))
			return err
		}); err != nil {
			return err
		}
		_ = ln.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 64)
		n, from, err := ln.ReadFromUDPAddrPort(buf)
		if err == nil && string(buf[:n]) == "over the overlay" && from.Addr() == src {
			return nil
		}
	}
	return fmt.Errorf("no datagram from %s to %s", src, dst)
}

func TestStartWritesLeaseDeviceAndSubnetFile(t *testing.T) {
	nstest.RequireRoot(t)
	e := startEtcd(t, netConf)
	ul := newUnderlay(t)
	ns, ip := ul.attach(1)
	n := newNode(t, e, ns, ip)
	n.opts.LeaseTTL, n.opts.RenewMargin = 12*time.Second, 2*time.Second // renewals every 4 s, seen below
	n.start()

	env, err := subnetenv.Read(n.opts.SubnetFile)
	if err != nil {
		t.Fatal(err)
	}
	sn := env.Subnet.Masked()
	if !netip.MustParsePrefix("10.244.0.0/16").Contains(sn.Addr()) || sn.Bits() != 24 || env.MTU != 1450 {
		t.Errorf("subnet.env %+v", env)
	}
	out := ns.MustRun(t, "ip", "-d", "addr", "show", "flannel.1")
	for _, want := range []string{"vxlan id 1", "local 198.18.0.1", "dev eth0", "dstport 8472", "nolearning", "mtu 1450", sn.Addr().String() + "/32"} {
		if !strings.Contains(out, want) {
			t.Errorf("flannel.1 lacks %q:\n%s", want, out)
		}
	}
	kv, err := e.Client(t).Get(context.Background(), prefix+"/subnets/"+subnet.SubnetKey(sn, netip.Prefix{}))
	if err != nil || len(kv.Kvs) != 1 {
		t.Fatalf("lease key: %v %v", kv, err)
	}
	var attrs subnet.LeaseAttrs
	if err := json.Unmarshal(kv.Kvs[0].Value, &attrs); err != nil || attrs.PublicIP != ip || attrs.BackendType != "vxlan" {
		t.Errorf("lease value %s: %v", kv.Kvs[0].Value, err)
	}
	if kv.Kvs[0].Lease == 0 {
		t.Error("lease key is not bound to an etcd lease")
	}
	if code, body := n.get("/metrics"); code != 200 || !strings.Contains(body, "weft_peers_programmed") {
		t.Errorf("/metrics: %d", code)
	}
	if code, _ := n.get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	poll.Until(t, 30*time.Second, "a renewal in the metrics", func() (bool, string) {
		_, body := n.get("/metrics")
		return strings.Contains(body, "weft_lease_renewals_total 1") || strings.Contains(body, "weft_lease_renewals_total 2"), ""
	})
	if _, body := n.get("/metrics"); strings.Contains(body, "weft_lease_expiry_timestamp_seconds 0\n") {
		t.Error("lease expiry not exported after a renewal")
	}
}

func TestTwoNodesProgramEachOtherAndSurviveTrouble(t *testing.T) {
	nstest.RequireRoot(t)
	e := startEtcd(t, netConf)
	ul := newUnderlay(t)
	ns1, ip1 := ul.attach(1)
	ns2, ip2 := ul.attach(2)
	a, b := newNode(t, e, ns1, ip1), newNode(t, e, ns2, ip2)
	a.start()
	b.start()
	snA, snB := a.subnet(), b.subnet()
	if snA == snB {
		t.Fatalf("both nodes got %s", snA)
	}
	poll.Until(t, 30*time.Second, "routes both ways", func() (bool, string) {
		return a.hasRoute(snB) && b.hasRoute(snA), ""
	})
	if err := udpOverlay(t, a, b); err != nil {
		t.Fatal(err)
	}
	if err := udpOverlay(t, b, a); err != nil {
		t.Fatal(err)
	}

	t.Run("restart keeps the subnet and the peer's route", func(t *testing.T) {
		stopSampling := sampleRoute(t, b, snA)
		a.stop()
		a.start()
		if got := a.subnet(); got != snA {
			t.Errorf("after restart subnet %s, want %s", got, snA)
		}
		if missing := stopSampling(); missing > 0 {
			t.Errorf("peer's route to %s vanished in %d samples during the restart", snA, missing)
		}
		if err := udpOverlay(t, a, b); err != nil {
			t.Error(err)
		}
	})

	t.Run("invalid config keeps the dataplane", func(t *testing.T) {
		ctx := context.Background()
		cl := e.Client(t)
		if _, err := cl.Put(ctx, prefix+"/config", `{"Network":"10.244.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}`); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 20*time.Second, "config error counted", func() (bool, string) {
			_, body := a.get("/metrics")
			return strings.Contains(body, "weft_config_errors_total 1") || strings.Contains(body, "weft_config_errors_total 2"), ""
		})
		if err := udpOverlay(t, a, b); err != nil {
			t.Errorf("overlay broken by a bad config: %v", err)
		}
		if code, body := a.get("/readyz"); code != 200 {
			t.Errorf("not ready after a bad config: %s", body)
		}
		if _, err := cl.Put(ctx, prefix+"/config", netConf); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("etcd outage keeps forwarding and resyncs", func(t *testing.T) {
		e.Stop()
		time.Sleep(3 * time.Second) // a resync tick or so without etcd
		if err := udpOverlay(t, a, b); err != nil {
			t.Errorf("overlay broken during the etcd outage: %v", err)
		}
		e.Restart(t)
		// A peer that joins after the outage is programmed: the watch resumed.
		fake := subnet.Lease{Subnet: netip.MustParsePrefix("10.244.200.0/24"), Attrs: subnet.LeaseAttrs{
			PublicIP: netip.MustParseAddr("198.19.0.9"), BackendType: "vxlan",
			BackendData: json.RawMessage(`{"VNI":1,"VtepMAC":"2e:00:00:00:00:09"}`),
		}}
		v, _ := json.Marshal(fake.Attrs)
		if _, err := e.Client(t).Put(context.Background(), prefix+"/subnets/"+fake.Key(), string(v)); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 60*time.Second, "fake peer programmed after etcd restart", func() (bool, string) {
			return a.hasRoute(fake.Subnet) && b.hasRoute(fake.Subnet), ""
		})
	})

	t.Run("lease deleted by hand is re-claimed", func(t *testing.T) {
		cl := e.Client(t)
		key := prefix + "/subnets/" + subnet.SubnetKey(snA, netip.Prefix{})
		if _, err := cl.Delete(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 60*time.Second, "lease re-created", func() (bool, string) {
			r, err := cl.Get(context.Background(), key)
			return err == nil && len(r.Kvs) == 1 && r.Kvs[0].Lease != 0, ""
		})
		poll.Until(t, 30*time.Second, "peer route back", func() (bool, string) { return b.hasRoute(snA), "" })
		if err := udpOverlay(t, b, a); err != nil {
			t.Error(err)
		}
	})

	t.Run("new public IP moves the lease and the peers' FDB", func(t *testing.T) {
		newIP := netip.MustParseAddr("198.18.0.21")
		// Deleting first: removing a primary address takes its secondaries along.
		ns1.MustRun(t, "ip", "addr", "del", ip1.String()+"/24", "dev", "eth0")
		ns1.MustRun(t, "ip", "addr", "add", newIP.String()+"/24", "dev", "eth0")
		key := prefix + "/subnets/" + subnet.SubnetKey(snA, netip.Prefix{})
		poll.Until(t, 60*time.Second, "lease PublicIP updated", func() (bool, string) {
			r, err := e.Client(t).Get(context.Background(), key)
			if err != nil || len(r.Kvs) != 1 {
				return false, fmt.Sprint(err)
			}
			return strings.Contains(string(r.Kvs[0].Value), `"PublicIP":"198.18.0.21"`), string(r.Kvs[0].Value)
		})
		poll.Until(t, 30*time.Second, "peer FDB points at the new IP", func() (bool, string) {
			out, _ := ns2.Run("bridge", "fdb", "show", "dev", "flannel.1")
			return strings.Contains(out, "dst 198.18.0.21") && !strings.Contains(out, "dst 198.18.0.1 "), out
		})
		poll.Until(t, 30*time.Second, "overlay works from the new IP", func() (bool, string) {
			err := udpOverlay(t, a, b)
			return err == nil, fmt.Sprint(err)
		})
		ip1 = newIP
	})

	t.Run("underlay flap brings device and peers back", func(t *testing.T) {
		ns1.MustRun(t, "ip", "link", "del", "eth0") // the kernel deletes flannel.1 with it
		time.Sleep(500 * time.Millisecond)
		ul.plug(ns1, 11, ip1)
		poll.Until(t, 60*time.Second, "device and route back", func() (bool, string) {
			out, _ := ns1.Run("ip", "-d", "link", "show", "flannel.1")
			return strings.Contains(out, "vxlan id 1") && a.hasRoute(snB), out
		})
		poll.Until(t, 30*time.Second, "overlay works again", func() (bool, string) {
			err := udpOverlay(t, a, b)
			return err == nil, fmt.Sprint(err)
		})
	})
}

// sampleRoute checks every 50 ms that n routes sn; the returned func stops
// sampling and returns how many samples missed the route.
func sampleRoute(t *testing.T, n *testNode, sn netip.Prefix) func() int {
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		missing := 0
		for {
			select {
			case <-stop:
				done <- missing
				return
			case <-time.After(50 * time.Millisecond):
				if !n.hasRoute(sn) {
					missing++
				}
			}
		}
	}()
	return func() int { close(stop); return <-done }
}
