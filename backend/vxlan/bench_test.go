// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weft-net/weft/subnet"
)

const benchPeers = 5000

// BenchmarkApplyPeers compares (a) weft applying 5,000 peers (15,000
// entries) to an empty device, from SetPeers until Status reports them
// programmed, with (c) the floor: the same entries through `ip -batch`
// and `bridge -batch`, in the same namespace and run.
func BenchmarkApplyPeers(b *testing.B) {
	peers := manyPeers(benchPeers)
	b.Run(fmt.Sprintf("weft/peers=%d", benchPeers), func(b *testing.B) {
		e := newKernelEnvTB(b)
		own := lease(1, "198.18.0.1", false)
		for b.Loop() {
			b.StopTimer()
			_ = e.dp.DelLink("flannel.1")
			n := startNodeTB(b, e, subnet.BackendConfig{}, Options{}, own)
			waitForTB(b, "ready", func() bool { return n.b.Status().Ready })
			b.StartTimer()
			n.b.SetPeers(peers)
			for n.b.Status().Peers != benchPeers {
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
			n.stop(b)
			b.StartTimer()
		}
	})
	b.Run(fmt.Sprintf("ip-batch/peers=%d", benchPeers), func(b *testing.B) {
		e := newKernelEnvTB(b)
		ns := e.hand.(kernelHand).ns
		ipFile, bridgeFile := batchFiles(b, peers)
		for b.Loop() {
			b.StopTimer()
			_ = e.dp.DelLink("flannel.1")
			ns.MustRun(b, "ip", "link", "add", "flannel.1", "type", "vxlan", "id", "1", "local", "198.18.0.1",
				"dev", "eth0", "dstport", "8472", "nolearning")
			ns.MustRun(b, "ip", "link", "set", "flannel.1", "up")
			b.StartTimer()
			runBatches(b, ns.Name, ipFile, bridgeFile)
		}
	})
}

// batchFiles writes the iproute2 batch files programming peers on flannel.1.
func batchFiles(b *testing.B, peers []subnet.Lease) (string, string) {
	var ipb, brb strings.Builder
	for _, p := range peers {
		d, _ := subnet.DecodeVXLANData(p.Attrs.BackendData)
		a := p.Subnet.Addr()
		fmt.Fprintf(&ipb, "neigh replace %s lladdr %s dev flannel.1 nud permanent\n", a, d.VtepMAC)
		fmt.Fprintf(&ipb, "route replace %s via %s dev flannel.1 onlink proto 87\n", p.Subnet, a)
		fmt.Fprintf(&brb, "fdb replace %s dev flannel.1 dst %s self permanent\n", d.VtepMAC, p.Attrs.PublicIP)
	}
	dir := b.TempDir()
	ipFile, bridgeFile := filepath.Join(dir, "ip.batch"), filepath.Join(dir, "bridge.batch")
	if err := os.WriteFile(ipFile, []byte(ipb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(bridgeFile, []byte(brb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	return ipFile, bridgeFile
}

// BenchmarkOnePeerChange measures (b): one peer added then removed through
// ApplyEvents on a device already holding N peers, until the kernel has
// it (OnPeerProgrammed). The cost must not grow with N. Each run makes
// changesPerRun changes and reports their median and maximum, so one
// scheduling hiccup does not become the result.
func BenchmarkOnePeerChange(b *testing.B) {
	const changesPerRun = 100
	for _, n := range []int{500, benchPeers} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			e := newKernelEnvTB(b)
			done := make(chan time.Duration, 1)
			opts := Options{OnPeerProgrammed: func(d time.Duration) {
				select {
				case done <- d:
				default:
				}
			}}
			nd := startNodeTB(b, e, subnet.BackendConfig{}, opts, lease(1, "198.18.0.1", false))
			all := manyPeers(n + 1)
			extra := all[n]
			nd.b.SetPeers(all[:n])
			waitForTB(b, "peers programmed", func() bool { return nd.b.Status().Peers == n })
			quiesce(done)
			var took []time.Duration
			for b.Loop() {
				for range changesPerRun / 2 {
					nd.b.ApplyEvents([]subnet.Event{{Type: subnet.EventAdded, Lease: extra}})
					took = append(took, <-done)
					nd.b.ApplyEvents([]subnet.Event{{Type: subnet.EventRemoved, Lease: extra}})
					took = append(took, <-done)
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "ns/change")
			b.ReportMetric(float64(took[len(took)-1].Nanoseconds()), "max-ns/change")
		})
	}
}

// quiesce drops reports of earlier work (the initial peer set's) until
// none has come for 200 ms, so they are not taken for a measured change.
func quiesce(ch chan time.Duration) {
	for {
		select {
		case <-ch:
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}

// BenchmarkRepair measures how long a route deleted behind weft's back
// stays missing on a device with 5,000 peers: from the deletion until the
// backend counted the repair.
func BenchmarkRepair(b *testing.B) {
	e := newKernelEnvTB(b)
	nd := startNodeTB(b, e, subnet.BackendConfig{}, Options{}, lease(1, "198.18.0.1", false))
	peers := manyPeers(benchPeers)
	nd.b.SetPeers(peers)
	waitForTB(b, "peers programmed", func() bool { return nd.b.Status().Peers == benchPeers })
	routes, err := nd.b.dp.Routes(4)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		r := routes[i%len(routes)]
		i++
		if r.Protocol != RouteProtocol {
			continue
		}
		before := nd.b.Status().Repairs
		if err := e.dp.DelRoute(r); err != nil {
			b.Fatal(err)
		}
		for nd.b.Status().Repairs == before {
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// BenchmarkOverlayTCP measures TCP throughput between the two nodes'
// overlay addresses with tx checksum offload on and off, so that the
// workaround for old kernels is known not to cost throughput elsewhere.
func BenchmarkOverlayTCP(b *testing.B) {
	payload := make([]byte, 32<<20)
	_, _ = rand.Read(payload)
	for _, mode := range []string{subnet.OffloadOn, subnet.OffloadOff} {
		b.Run("offload="+mode, func(b *testing.B) {
			nodes := newOverlay(b, mode)
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, err := tcpTransfer(nodes, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOnePeerChangeFloor is (b)'s floor: the same add and removal of
// one peer on a device holding N peers, through `ip -batch` and `bridge
// -batch` (200 changes per batch), so the kernel's own cost growth with N
// shows next to weft's.
func BenchmarkOnePeerChangeFloor(b *testing.B) {
	const cycles = 200
	for _, n := range []int{500, benchPeers} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			e := newKernelEnvTB(b)
			ns := e.hand.(kernelHand).ns
			ns.MustRun(b, "ip", "link", "add", "flannel.1", "type", "vxlan", "id", "1", "local", "198.18.0.1",
				"dev", "eth0", "dstport", "8472", "nolearning")
			ns.MustRun(b, "ip", "link", "set", "flannel.1", "up")
			ns.MustRun(b, "ip", "addr", "add", "10.244.1.0/32", "dev", "flannel.1")
			all := manyPeers(n + 1)
			fillIP, fillBridge := batchFiles(b, all[:n])
			runBatches(b, ns.Name, fillIP, fillBridge)
			x := all[n]
			d, _ := subnet.DecodeVXLANData(x.Attrs.BackendData)
			a := x.Subnet.Addr()
			var ipb, brb strings.Builder
			for range cycles {
				fmt.Fprintf(&ipb, "neigh replace %s lladdr %s dev flannel.1 nud permanent\n", a, d.VtepMAC)
				fmt.Fprintf(&ipb, "route replace %s via %s dev flannel.1 onlink proto 87\n", x.Subnet, a)
				fmt.Fprintf(&ipb, "route del %s dev flannel.1 proto 87\n", x.Subnet)
				fmt.Fprintf(&ipb, "neigh del %s dev flannel.1\n", a)
				fmt.Fprintf(&brb, "fdb replace %s dev flannel.1 dst %s self permanent\n", d.VtepMAC, x.Attrs.PublicIP)
				fmt.Fprintf(&brb, "fdb del %s dev flannel.1 dst %s self\n", d.VtepMAC, x.Attrs.PublicIP)
			}
			dir := b.TempDir()
			ipFile, bridgeFile := filepath.Join(dir, "ip"), filepath.Join(dir, "bridge")
			_ = os.WriteFile(ipFile, []byte(ipb.String()), 0o600)
			_ = os.WriteFile(bridgeFile, []byte(brb.String()), 0o600)
			for b.Loop() {
				runBatches(b, ns.Name, ipFile, bridgeFile)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*cycles*b.N), "ns/change")
		})
	}
}

func runBatches(b *testing.B, ns, ipFile, bridgeFile string) {
	for _, c := range [][]string{{"ip", "-n", ns, "-batch", ipFile}, {"bridge", "-n", ns, "-batch", bridgeFile}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
}
