// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/subnet"
)

// demoOpts are weft-demo's flags.
type demoOpts struct {
	binDir, cniPath, confList, runtime, criBin string
	nodes, pods                                int
	keep                                       bool
}

// parseDemoFlags parses and checks the flags; every error is a usage error.
func parseDemoFlags(args []string, stderr io.Writer) (demoOpts, error) {
	var o demoOpts
	fs := flag.NewFlagSet("weft-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: weft-demo [flags]\n\nRuns a weft cluster in network namespaces (root), shows every pod reaching every other and\ntears it down. `make demo` runs it with the built binaries.\n\nflags:\n")
		fs.PrintDefaults()
	}
	exe, _ := os.Executable()
	fs.StringVar(&o.binDir, "bin-dir", filepath.Dir(exe), "directory holding weftd, weft, weftctl and weft-demo")
	fs.StringVar(&o.cniPath, "cni-path", filepath.Join(filepath.Dir(exe), "cni"), "directory holding the reference CNI plugins")
	fs.StringVar(&o.confList, "conflist", "", "CNI conflist (default <bin-dir>/../dist/cni/10-weft.conflist)")
	fs.IntVar(&o.nodes, "nodes", 3, "number of nodes")
	fs.IntVar(&o.pods, "pods", 2, "pods per node")
	fs.BoolVar(&o.keep, "keep", false, "keep the cluster running until Ctrl-C, to explore it")
	fs.StringVar(&o.runtime, "runtime", "libcni", `who creates the pods: "libcni" (the CNI library, fast) or "containerd" (a containerd per node, pods made through its CRI with crictl, as kubelet does)`)
	fs.StringVar(&o.criBin, "cri-bin-dir", "", "directory holding containerd, containerd-shim-runc-v2, ctr, crictl and pause, for --runtime containerd (default <bin-dir>/cri; `make cri` builds them)")
	if err := parseFlags(fs, args); err != nil {
		return o, err
	}
	if o.runtime != "libcni" && o.runtime != "containerd" {
		return o, fmt.Errorf("--runtime %q: want libcni or containerd", o.runtime)
	}
	if o.criBin == "" {
		o.criBin = filepath.Join(o.binDir, "cri")
	}
	return o, nil
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseDemoFlags(args, stderr)
	if err != nil {
		return err
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		return errors.New("the demo builds network namespaces: it needs Linux and root (try `sudo make demo`)")
	}
	start := time.Now()
	say := func(format string, a ...any) {
		fmt.Fprintf(stdout, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	say("building a %d-node weft cluster in network namespaces (nothing touches the host's own network)", o.nodes)
	c, err := cluster.New(ctx, cluster.Options{
		Nodes: o.nodes, BinDir: o.binDir, CNIPath: o.cniPath, ConfList: o.confList, Logf: say,
	})
	if err != nil {
		return err
	}
	defer func() {
		say("tearing down")
		if err := c.Close(); err != nil {
			fmt.Fprintf(stderr, "teardown: %v\n", err)
		}
	}()
	say("weftd is ready on every node")
	all, closePods, err := demoPods(ctx, c, o.runtime, o.criBin, o.pods, say)
	defer closePods() // before the cluster's teardown: defers run last first
	if err != nil {
		return err
	}
	if err := printNodes(ctx, stdout, c); err != nil {
		return err
	}
	printPods(stdout, all)
	failed := printMatrix(stdout, all)
	say("reachability: %d of %d pod pairs answered", len(all)*(len(all)-1)-failed, len(all)*(len(all)-1))
	if err := printLeases(ctx, stdout, c); err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(stdout, "\nThe cluster keeps running. In another terminal, enter a pod with e.g.\n  ip netns exec %s sh\n"+
			"and ping %s. Node logs are in %s. Press Ctrl-C here to tear it down.\n", all[0].NS, all[len(all)-1].IP, c.Dir())
		<-ctx.Done()
	}
	if failed > 0 {
		return fmt.Errorf("%d pod pairs could not reach each other (node logs in %s)", failed, c.Dir())
	}
	return nil
}

func printNodes(ctx context.Context, w io.Writer, c *cluster.Cluster) error {
	kvs, err := c.Get(ctx, c.Prefix()+"/subnets/")
	if err != nil {
		return err
	}
	byIP := map[string]subnet.Lease{}
	for _, kv := range kvs {
		sn, sn6, err := subnet.ParseSubnetKey(strings.TrimPrefix(kv.Key, c.Prefix()+"/subnets/"))
		if err != nil {
			continue
		}
		var a subnet.LeaseAttrs
		if json.Unmarshal([]byte(kv.Value), &a) != nil {
			continue
		}
		byIP[a.PublicIP.String()] = subnet.Lease{Subnet: sn, IPv6Subnet: sn6, Attrs: a}
	}
	fmt.Fprintln(w, "\nNODES")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPUBLIC IP\tSUBNET\tVTEP MAC")
	for _, n := range c.Nodes {
		l := byIP[n.IP.String()]
		mac := "-"
		if d, err := subnet.DecodeVXLANData(l.Attrs.BackendData); err == nil {
			mac = d.VtepMAC.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.IP, l.Subnet, mac)
	}
	return tw.Flush()
}

func printPods(w io.Writer, pods []*cluster.Pod) {
	fmt.Fprintln(w, "\nPODS")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tNODE\tADDRESS\tNAMESPACE")
	for _, p := range pods {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Node.Name, p.IP, p.NS)
	}
	_ = tw.Flush()
}

// printMatrix pings every pod from every other pod (real ICMP across the
// overlay, in parallel) and prints the round-trip times; it returns how many
// pairs failed.
func printMatrix(w io.Writer, pods []*cluster.Pod) int {
	type key struct{ from, to int }
	res := map[key]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	failed := 0
	for i, a := range pods {
		for j, b := range pods {
			if i == j {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				rtt, err := cluster.Ping(a.NS, b.IP, 5, time.Second)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					res[key{i, j}] = "FAIL"
					failed++
					return
				}
				res[key{i, j}] = fmt.Sprintf("%.2fms", float64(rtt.Microseconds())/1000)
			}()
		}
	}
	wg.Wait()
	fmt.Fprintln(w, "\nREACHABILITY (ICMP round trip, from row to column)")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "FROM \\ TO")
	for _, p := range pods {
		fmt.Fprintf(tw, "\t%s/%s", p.Node.Name, p.Name)
	}
	fmt.Fprintln(tw)
	for i, a := range pods {
		fmt.Fprintf(tw, "%s/%s", a.Node.Name, a.Name)
		for j := range pods {
			if i == j {
				fmt.Fprint(tw, "\t-")
				continue
			}
			fmt.Fprintf(tw, "\t%s", res[key{i, j}])
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	return failed
}

func printLeases(ctx context.Context, w io.Writer, c *cluster.Cluster) error {
	kvs, err := c.Get(ctx, c.Prefix()+"/")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nETCD (as `etcdctl get --prefix %s/` shows it)\n", c.Prefix())
	for _, kv := range kvs {
		fmt.Fprintf(w, "%s\n%s\n", kv.Key, kv.Value)
	}
	return nil
}

// demoPods creates pods on every node, through libcni or through a
// containerd per node, and returns them with the function that removes
// the containerds (a no-op for libcni: the cluster removes its pods).
func demoPods(ctx context.Context, c *cluster.Cluster, rt, criBin string, perNode int,
	say func(string, ...any),
) ([]*cluster.Pod, func(), error) {
	var all []*cluster.Pod
	if rt == "libcni" {
		for _, n := range c.Nodes {
			for i := 1; i <= perNode; i++ {
				p, err := n.AddPod(ctx, fmt.Sprintf("pod%d", i))
				if err != nil {
					return nil, func() {}, err
				}
				all = append(all, p)
			}
		}
		say("created %d pods through the weft CNI plugin", len(all))
		return all, func() {}, nil
	}
	var cds []*cluster.Containerd
	closeAll := func() {
		for _, cd := range cds {
			if err := cd.Close(); err != nil {
				say("containerd %s teardown: %v", cd.Node.Name, err)
			}
		}
	}
	for _, n := range c.Nodes {
		cd, err := n.StartContainerd(ctx, cluster.ContainerdOptions{CRIBinDir: criBin})
		if err != nil {
			return nil, closeAll, err
		}
		cds = append(cds, cd)
		say("containerd on %s (socket %s, log %s)", n.Name, cd.Socket, cd.LogFile())
		if err := waitDemoNetworkReady(ctx, cd); err != nil {
			return nil, closeAll, err
		}
		for i := 1; i <= perNode; i++ {
			p, err := cd.RunPod(ctx, fmt.Sprintf("pod%d", i))
			if err != nil {
				return nil, closeAll, err
			}
			all = append(all, p.Pod)
		}
	}
	say("created %d pod sandboxes through containerd's CRI (crictl runp), which ran the weft CNI plugin", len(all))
	return all, closeAll, nil
}

// waitDemoNetworkReady waits until containerd reports NetworkReady, which
// it takes from weft's CNI STATUS.
func waitDemoNetworkReady(ctx context.Context, cd *cluster.Containerd) error {
	deadline := time.Now().Add(time.Minute)
	for {
		cond, err := cd.NetworkReady(ctx)
		if err == nil && cond.Status {
			return nil
		}
		if err == nil {
			err = errors.New(cond.Message)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("containerd on %s: NetworkReady still false after a minute: %w", cd.Node.Name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
